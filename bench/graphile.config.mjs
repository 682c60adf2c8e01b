// PostGraphile v5 for the benchmark: amber preset over our own tables, GraphiQL and watch off.
// bench/run.py copies this file into bench/.node (where the postgraphile package is installed)
// and sets DATABASE_URL and PORT.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT),
    graphiql: false,
    watch: false,
  },
  grafast: { explain: false },
};
