-- Bench-only seeding with generate_series: TO BE REPLACED by the data generator of issue 3
-- (`python server.py seed --users N ... --seed S`, db/generate.py) once it lands.
-- Deterministic: every value is a function of the row number. Sizes match the issue:
-- 20,000 campaigns, 500,000 transactions (2,000 members x 250), 7+ daily rows per campaign,
-- one A/B test with two variants per campaign.
BEGIN;
INSERT INTO merchants (name, category, created_at)
SELECT 'Merchant ' || g, (ARRAY['GROCERY','TRAVEL','DINING','FUEL','RETAIL'])[1 + g % 5],
       timestamptz '2026-01-01' + g * interval '1 minute'
FROM generate_series(1, 500) g;

INSERT INTO users (email, name, role, password_hash, created_at)
SELECT 'user' || g || '@bench.example', 'User ' || g,
       CASE WHEN g <= 50 THEN 'MANAGER' ELSE 'MEMBER' END, 'x',
       timestamptz '2026-01-01' + g * interval '1 second'
FROM generate_series(1, 2050) g;

INSERT INTO accounts (user_id, kind, institution, last_four)
SELECT u, 'CREDIT_CARD', 'Bank ' || (u % 7), lpad((u % 10000)::text, 4, '0')
FROM generate_series(51, 2050) u;

INSERT INTO transactions (account_id, user_id, merchant_id, amount_cents, category,
                          occurred_at, description)
SELECT a.id, a.user_id, 1 + (g * 7 + a.user_id) % 500, 100 + (g * 37 + a.user_id) % 20000,
       (ARRAY['GROCERY','TRAVEL','DINING','FUEL','RETAIL'])[1 + g % 5],
       timestamptz '2026-06-01' + (g * 3607 + a.user_id) * interval '1 second',
       'Purchase ' || g
FROM accounts a, generate_series(1, 250) g;

INSERT INTO campaigns (merchant_id, created_by, name, description, status, reward_type,
                       reward_value, budget_cents, spent_cents, starts_at, ends_at,
                       created_at, updated_at)
SELECT 1 + g % 500, 1 + g % 50, 'Campaign ' || g, 'Cashback offer number ' || g,
       (ARRAY['DRAFT','ACTIVE','PAUSED','COMPLETED'])[1 + g % 4],
       CASE WHEN g % 3 = 0 THEN 'FIXED_AMOUNT' ELSE 'CASHBACK_PERCENT' END,
       50 + g % 900, 100000 + g * 13 % 900000, g * 7 % 100000,
       timestamptz '2026-03-01' + (g % 90) * interval '1 day',
       timestamptz '2026-12-01' + (g % 90) * interval '1 day',
       timestamptz '2026-02-01' + g * interval '1 minute',
       timestamptz '2026-02-01' + g * interval '1 minute'
FROM generate_series(1, 20000) g;

INSERT INTO campaign_analytics_daily (campaign_id, day, impressions, clicks, conversions,
                                      spend_cents, revenue_cents)
SELECT c, date '2026-11-01' + d, 1000 + (c * 31 + d) % 5000, 50 + (c + d) % 300,
       (c + d * 3) % 40, 1000 + (c * 17 + d) % 9000, 2000 + (c * 13 + d) % 30000
FROM generate_series(1, 20000) c, generate_series(0, 13) d;

INSERT INTO ab_tests (campaign_id, name, status, created_at)
SELECT c, 'Test ' || c, (ARRAY['DRAFT','RUNNING','STOPPED'])[1 + c % 3],
       timestamptz '2026-04-01' + c * interval '1 minute'
FROM generate_series(1, 20000) c;

INSERT INTO ab_test_variants (ab_test_id, name, is_control, traffic_share, impressions,
                              conversions)
SELECT t, v, v = 'control', 0.5, 1000 + (t * 7) % 900 + length(v), (t * 3) % 90 + length(v)
FROM generate_series(1, 20000) t, unnest(ARRAY['control', 'treatment']) v;
COMMIT;
ANALYZE;
