// Apollo Client's PersistedQueryLink against the server: node apq.mjs <graphql url> "Bearer <token>"
// Prints one JSON line per HTTP exchange, then the two answers of each round.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const [url, authorization] = process.argv.slice(2);
const sha256 = (text) => createHash("sha256").update(text).digest("hex");

for (const useGETForHashedQueries of [false, true]) {
  const exchanges = [];
  const recordingFetch = async (input, init) => {
    const response = await fetch(input, init);
    const body = await response.clone().json();
    const sent = init.method === "GET" ? new URL(input).searchParams : JSON.parse(init.body);
    const query = init.method === "GET" ? sent.get("query") : sent.query;
    exchanges.push({ method: init.method, withQuery: Boolean(query), status: response.status, body });
    return response;
  };
  const link = createPersistedQueryLink({ sha256, useGETForHashedQueries }).concat(
    new HttpLink({ uri: url, fetch: recordingFetch, headers: { authorization } }),
  );
  const client = new ApolloClient({ link, cache: new InMemoryCache() });
  const query = gql`query Count${useGETForHashedQueries ? "Get" : "Post"} { campaigns(first: 1) { totalCount } }`;
  const first = await client.query({ query, fetchPolicy: "network-only" });
  const second = await client.query({ query, fetchPolicy: "network-only" });
  console.log(JSON.stringify({ useGETForHashedQueries, exchanges, answers: [first.data, second.data] }));
}
