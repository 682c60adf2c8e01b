// Type-checked against the generated types (tsc --noEmit): a wrong scalar mapping fails here.
import type {
  AuditLogQuery,
  CampaignQuery,
  CreateCampaignMutation,
  CreateCampaignMutationVariables,
} from "./generated";

declare const campaign: CampaignQuery;
declare const created: CreateCampaignMutation;
declare const audit: AuditLogQuery;

const amount: string = campaign.campaign!.budget.amount; // Decimal: a string out
const startsAt: string | null | undefined = campaign.campaign!.startsAt; // DateTime
const day: string = campaign.campaign!.dailyAnalytics[0].day; // Date
const rewardValue: string = created.createCampaign.campaign!.rewardValue;
const createdAt: string = created.createCampaign.campaign!.createdAt;
const before: unknown = audit.admin!.auditLogs.nodes[0].before; // JSON
const entryId: string = audit.admin!.auditLogs.nodes[0].id; // AuditLogEntry is a Node

const asNumber: CreateCampaignMutationVariables = {
  input: {
    merchantId: "TWVyY2hhbnQ6MQ==",
    name: "Spring",
    rewardType: "CASHBACK_PERCENT",
    rewardValue: 5, // Decimal: a number in ...
    budget: "1000.00", // ... or a string
  },
};

export { amount, startsAt, day, rewardValue, createdAt, before, entryId, asNumber };
