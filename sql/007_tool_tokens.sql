-- Tutorial 4: the claims tools behind AgentCore Gateway.
--
-- The tools run in a Lambda function that the gateway calls after its policy engine has
-- decided the call: the policies (agents/tools/policies/claims_tools.cedar) allow a tool only
-- for the `tenant_id` that the caller's verified access token carries. The function never sees
-- the token, so it cannot sign a token for the caller's `sub` as the claims agent does (004). It
-- signs one for the tenant instead:
--   app.tenant_token = tenant:<tenant id>.<transaction id>.<expiry>.<hex HMAC-SHA256>
-- with a key of its own, `tool_token` (in Secrets Manager and app_private.signing_keys), which
-- the claims agent cannot read, so the agent cannot mint tenant tokens and the tools cannot mint
-- user tokens. Anything else is as in 004: bound to the transaction, expiring, forged or
-- replayed tokens yield NULL (zero rows); a tenant that does not exist matches no row.
--
-- Row-Level Security keeps every transaction of the tools to one tenant, and every lookup
-- inside it (a claim number of another tenant is not found). Which tenant, though, is the
-- gateway's word: the tools' isolation rests on the policy engine in ENFORCE mode, which deploy
-- and verify check, and on nobody but the gateway's role being allowed to invoke the function.

SET LOCAL ROLE claims_owner;

CREATE OR REPLACE FUNCTION app_private.current_tenant() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    token   text := NULLIF(current_setting('app.tenant_token', true), '');
    parts   text[];
    signing text;
    tool    boolean;
BEGIN
    IF token IS NULL THEN
        RETURN NULL;
    END IF;
    parts := string_to_array(token, '.');
    IF array_length(parts, 1) IS DISTINCT FROM 4
       OR parts[2] !~ '^[0-9]{1,20}$'
       OR parts[3] !~ '^[0-9]{1,12}$'
       OR parts[4] !~ '^[0-9a-f]{64}$' THEN
        RETURN NULL;
    END IF;
    IF parts[2] <> pg_current_xact_id()::text THEN
        RETURN NULL;
    END IF;
    IF to_timestamp(parts[3]::bigint) < clock_timestamp() THEN
        RETURN NULL;
    END IF;
    tool := parts[1] LIKE 'tenant:%';
    SELECT key INTO signing FROM app_private.signing_keys
     WHERE name = CASE WHEN tool THEN 'tool_token' ELSE 'tenant_token' END;
    IF signing IS NULL
       OR encode(app_private.hmac(parts[1] || '.' || parts[2] || '.' || parts[3], signing, 'sha256'), 'hex') <> parts[4] THEN
        RETURN NULL;
    END IF;
    -- (claims.tenants cannot be read here: its own policy calls this function. A tenant id
    -- that names no tenant matches no row, and api.current_tenant() answers NULL for it.)
    IF tool THEN
        RETURN CASE WHEN substr(parts[1], 8) ~ '^[a-z0-9-]{1,50}$' THEN substr(parts[1], 8) END;
    END IF;
    RETURN (SELECT u.tenant_id FROM claims.user_tenants u WHERE u.user_sub = parts[1]);
END
$$;

-- Filing a claim: the tenant is the verified token's, the number the next of that tenant's,
-- the status `submitted`. Row-Level Security's WITH CHECK refuses a row for any other tenant.
GRANT INSERT ON claims.claims TO claims_api;

RESET ROLE;
SET LOCAL ROLE claims_api;

CREATE FUNCTION api.file_claim(p_customer text, p_policy_type text, p_amount numeric, p_description text)
RETURNS TABLE (claim_number text, customer_name text, policy_type text, claim_amount numeric, status text, filed_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    tenant text := app_private.current_tenant();
    n      bigint;
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no verified tenant' USING ERRCODE = '42501';
    END IF;
    -- One filing at a time per tenant: the number follows the tenant's highest (the rows seen
    -- are this tenant's only), three digits at least, more when it needs them.
    PERFORM pg_advisory_xact_lock(hashtext('file_claim:' || tenant));
    SELECT coalesce(max(substring(c.claim_number FROM '-([0-9]{1,12})$')::bigint), 0) + 1 INTO n
      FROM claims.claims c;
    RETURN QUERY
    INSERT INTO claims.claims AS c (tenant_id, claim_number, customer_name, policy_type, claim_amount, status, filed_at, description)
    VALUES (tenant,
            'CLM-' || upper(substr(tenant, length(tenant))) || '-' || CASE WHEN n < 1000 THEN lpad(n::text, 3, '0') ELSE n::text END,
            p_customer, p_policy_type, p_amount, 'submitted', now(), coalesce(p_description, ''))
    RETURNING c.claim_number, c.customer_name, c.policy_type, c.claim_amount, c.status, c.filed_at;
END
$$;

REVOKE EXECUTE ON FUNCTION api.file_claim(text, text, numeric, text) FROM PUBLIC;
RESET ROLE;
GRANT EXECUTE ON FUNCTION api.file_claim(text, text, numeric, text) TO app_user;
