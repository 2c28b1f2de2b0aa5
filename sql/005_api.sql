-- The data-access functions the claims agent calls. Parameterized, no dynamic SQL; the tenant
-- comes only from the verified token (through the policies), never from an argument.
-- SECURITY DEFINER as claims_api, which is subject to Row-Level Security.

SET LOCAL ROLE claims_api;

CREATE FUNCTION api.current_tenant() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT t.tenant_id FROM claims.tenants t $$;

CREATE FUNCTION api.list_claims()
RETURNS TABLE (claim_number text, customer_name text, policy_type text, claim_amount numeric, status text, filed_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.claim_number, c.customer_name, c.policy_type, c.claim_amount, c.status, c.filed_at
    FROM claims.claims c
    ORDER BY c.filed_at DESC, c.claim_number
$$;

CREATE FUNCTION api.claim_by_number(p_claim_number text)
RETURNS TABLE (claim_number text, customer_name text, policy_type text, claim_amount numeric, status text, filed_at timestamptz, description text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.claim_number, c.customer_name, c.policy_type, c.claim_amount, c.status, c.filed_at, c.description
    FROM claims.claims c
    WHERE c.claim_number = p_claim_number
$$;

CREATE FUNCTION api.count_claims(p_from timestamptz, p_to timestamptz) RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT count(*) FROM claims.claims c WHERE c.filed_at >= p_from AND c.filed_at < p_to
$$;

CREATE FUNCTION api.totals_by_status()
RETURNS TABLE (status text, claims bigint, total_amount numeric)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.status, count(*), sum(c.claim_amount) FROM claims.claims c GROUP BY c.status ORDER BY c.status
$$;

REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA api FROM PUBLIC;
RESET ROLE;
GRANT USAGE ON SCHEMA api TO app_user;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA api TO app_user;
