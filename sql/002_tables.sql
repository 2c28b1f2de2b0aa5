-- Tables, owned by claims_owner.
SET LOCAL ROLE claims_owner;

CREATE TABLE claims.tenants (
    tenant_id   text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9-]{1,50}$'),
    name        text NOT NULL
);

-- Cognito `sub` -> tenant. Filled by the deploy once the users exist.
CREATE TABLE claims.user_tenants (
    user_sub    text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES claims.tenants (tenant_id)
);

CREATE TABLE claims.claims (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES claims.tenants (tenant_id),
    claim_number    text NOT NULL,
    customer_name   text NOT NULL,
    policy_type     text NOT NULL CHECK (policy_type IN ('auto', 'home', 'life', 'travel')),
    claim_amount    numeric(12, 2) NOT NULL CHECK (claim_amount >= 0),
    status          text NOT NULL CHECK (status IN ('submitted', 'in_review', 'approved', 'denied', 'paid')),
    filed_at        timestamptz NOT NULL,
    description     text NOT NULL DEFAULT '',
    -- Unique per tenant, not globally: a global key would tell one tenant, through a
    -- duplicate-key error, which claim numbers another tenant uses.
    UNIQUE (tenant_id, claim_number)
);

-- Every query is filtered by tenant first; the policy's tenant lookup is evaluated once per
-- statement, so this index serves it.
CREATE INDEX claims_tenant_filed_at ON claims.claims (tenant_id, filed_at);

-- The signing keys of tenant tokens. Readable only by claims_owner.
CREATE TABLE app_private.signing_keys (
    name    text PRIMARY KEY,
    key     text NOT NULL CHECK (length(key) >= 16)
);
