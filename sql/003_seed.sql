-- Demo data from the reference article: broker-a has three claims, broker-b two. The users'
-- tenants are mapped at deploy time (their Cognito `sub` only exists once they are created).
-- Seeded before Row-Level Security is enabled (004); a later seed must lift FORCE inside its
-- own transaction.
SET LOCAL ROLE claims_owner;

INSERT INTO claims.tenants (tenant_id, name) VALUES
    ('broker-a', 'Broker A Insurance Agency'),
    ('broker-b', 'Broker B Risk Partners');

INSERT INTO claims.claims (tenant_id, claim_number, customer_name, policy_type, claim_amount, status, filed_at, description) VALUES
    ('broker-a', 'CLM-A-001', 'Alice Johnson', 'auto', 4200.00, 'in_review', now() - interval '2 days', 'Rear-end collision at a traffic light'),
    ('broker-a', 'CLM-A-002', 'Bob Smith', 'home', 12500.00, 'approved', now() - interval '5 days', 'Water damage from a burst pipe'),
    ('broker-a', 'CLM-A-003', 'Carol Davis', 'auto', 850.00, 'submitted', now() - interval '20 days', 'Windshield crack'),
    ('broker-b', 'CLM-B-001', 'David Wilson', 'home', 30000.00, 'in_review', now() - interval '3 days', 'Roof damage after a storm'),
    ('broker-b', 'CLM-B-002', 'Eva Martinez', 'travel', 1200.00, 'paid', now() - interval '12 days', 'Cancelled flight');
