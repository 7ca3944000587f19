# PostgreSQL: a posting and a batch of transfers as one function call each (billing.services.ledger calls them in
# one statement that also stages their audit events). Elsewhere the ledger keeps its locking path.

from django.db import migrations

from core.operations import RunSQLOnPostgreSQL

# One entry on one account: the account row locked, the bounds and (for a tenant's debit) the tenant's funds checked
# under the lock, then the balance, the entry and the tenant's funds written. A refusal writes nothing and says why
# (refusal, and for insufficient funds what could be debited: available).
LEDGER_POST_APPLY = """
CREATE OR REPLACE FUNCTION ledger_post_apply(
    p_account uuid, p_type text, p_amount bigint, p_description text, p_reference text, p_entry_id uuid,
    p_tenant uuid, p_max_balance bigint, p_created_at timestamptz)
RETURNS TABLE (entry_no integer, refusal text, available bigint, before_balance bigint, after_balance bigint,
               after_sequence bigint, after_funds bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_balance bigint;
    v_sequence bigint;
    v_funds bigint;
    v_limit bigint;
    v_after bigint;
    v_funds_after bigint;
BEGIN
    SELECT a.balance, a.last_sequence INTO v_balance, v_sequence
    FROM billing_accounts a WHERE a.account_id = p_account FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 1, 'account_not_found'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::bigint;
        RETURN;
    END IF;
    IF p_tenant IS NOT NULL THEN
        -- Read under the account's row lock, which every change of these funds holds.
        SELECT f.balance INTO v_funds FROM billing_tenant_funds f
        WHERE f.account_id = p_account AND f.tenant_id = p_tenant;
        v_funds := coalesce(v_funds, 0);
    END IF;
    IF p_type = 'debit' THEN
        v_limit := CASE WHEN p_tenant IS NULL THEN v_balance ELSE least(v_funds, v_balance) END;
        IF p_amount > v_limit THEN
            RETURN QUERY SELECT 1, 'insufficient_funds'::text, v_limit, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint;
            RETURN;
        END IF;
        v_after := v_balance - p_amount;
        v_funds_after := v_funds - p_amount;
    ELSE
        IF v_balance + p_amount > p_max_balance THEN
            RETURN QUERY SELECT 1, 'balance_limit_exceeded'::text, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        v_after := v_balance + p_amount;
        v_funds_after := v_funds + p_amount;
    END IF;
    UPDATE billing_accounts SET balance = v_after, last_sequence = v_sequence + 1, updated_at = p_created_at
    WHERE account_id = p_account;
    INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after,
                                sequence, corrects_entry_id, tenant_id, tenant_balance_after, created_at)
    VALUES (p_entry_id, p_account, p_type, p_amount, p_description, p_reference, v_after, v_sequence + 1, NULL,
            p_tenant, v_funds_after, p_created_at);
    IF p_tenant IS NOT NULL THEN
        INSERT INTO billing_tenant_funds (id, account_id, tenant_id, balance, updated_at)
        VALUES (gen_random_uuid(), p_account, p_tenant, v_funds_after, p_created_at)
        ON CONFLICT (account_id, tenant_id)
        DO UPDATE SET balance = EXCLUDED.balance, updated_at = EXCLUDED.updated_at;
    END IF;
    RETURN QUERY SELECT 1, NULL::text, NULL::bigint, v_balance, v_after, v_sequence + 1, v_funds_after;
END;
$$;
"""

# Transfers i = 1..n from p_from[i] to p_to[i], all or none: every account of the batch locked first, in id order (so
# two batches, however their transfers point, take their common rows in the same order and never deadlock), the
# transfers checked one after the other on the running balances (and, for a tenant's batch, the tenant's running
# funds: its debit on the source, its credit on the target), and only then everything written. Entry 2i-1 is the
# debit of transfer i, entry 2i its credit. The first refusal writes nothing and names the transfer (entry_no = i),
# the reason, and for insufficient funds what its source could give (available).
LEDGER_TRANSFER_APPLY = """
CREATE OR REPLACE FUNCTION ledger_transfer_apply(
    p_from uuid[], p_to uuid[], p_amount bigint[], p_description text[], p_reference text[], p_entry_id uuid[],
    p_tenant uuid, p_max_balance bigint, p_created_at timestamptz)
RETURNS TABLE (entry_no integer, refusal text, available bigint, before_balance bigint, after_balance bigint,
               after_sequence bigint, after_funds bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := coalesce(cardinality(p_from), 0);
    v_ids uuid[] := '{}';
    v_balances bigint[] := '{}';
    v_sequences bigint[] := '{}';
    v_currencies text[] := '{}';
    v_funds bigint[] := '{}';
    e_account uuid[] := '{}';
    e_type text[] := '{}';
    e_amount bigint[] := '{}';
    e_description text[] := '{}';
    e_reference text[] := '{}';
    e_before bigint[] := '{}';
    e_after bigint[] := '{}';
    e_sequence bigint[] := '{}';
    e_funds bigint[] := '{}';
    v_row record;
    v_limit bigint;
    v_amount bigint;
    i integer;
    s integer;
    t integer;
BEGIN
    FOR v_row IN
        SELECT a.account_id, a.balance, a.last_sequence, a.currency FROM billing_accounts a
        WHERE a.account_id = ANY (p_from || p_to) ORDER BY a.account_id FOR UPDATE
    LOOP
        v_ids := v_ids || v_row.account_id;
        v_balances := v_balances || v_row.balance;
        v_sequences := v_sequences || v_row.last_sequence;
        v_currencies := v_currencies || v_row.currency::text;
        v_funds := v_funds || 0::bigint;
    END LOOP;
    FOR i IN 1..v_count LOOP
        IF array_position(v_ids, p_from[i]) IS NULL OR array_position(v_ids, p_to[i]) IS NULL THEN
            RETURN QUERY SELECT i, 'account_not_found'::text, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
    END LOOP;
    IF p_tenant IS NOT NULL THEN
        -- Read under the accounts' row locks, which every change of these funds holds.
        FOR v_row IN
            SELECT f.account_id, f.balance FROM billing_tenant_funds f
            WHERE f.tenant_id = p_tenant AND f.account_id = ANY (v_ids)
        LOOP
            v_funds[array_position(v_ids, v_row.account_id)] := v_row.balance;
        END LOOP;
    END IF;
    FOR i IN 1..v_count LOOP
        s := array_position(v_ids, p_from[i]);
        t := array_position(v_ids, p_to[i]);
        v_amount := p_amount[i];
        IF v_currencies[s] <> v_currencies[t] THEN
            RETURN QUERY SELECT i, 'currency_mismatch'::text, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        v_limit := CASE WHEN p_tenant IS NULL THEN v_balances[s] ELSE least(v_funds[s], v_balances[s]) END;
        IF v_amount > v_limit THEN
            RETURN QUERY SELECT i, 'insufficient_funds'::text, v_limit, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint;
            RETURN;
        END IF;
        IF v_balances[t] + v_amount > p_max_balance THEN
            RETURN QUERY SELECT i, 'balance_limit_exceeded'::text, NULL::bigint, NULL::bigint, NULL::bigint,
                                NULL::bigint, NULL::bigint;
            RETURN;
        END IF;
        e_account := e_account || ARRAY[v_ids[s], v_ids[t]];
        e_type := e_type || ARRAY['debit', 'credit'];
        e_amount := e_amount || ARRAY[v_amount, v_amount];
        e_description := e_description || ARRAY[p_description[i], p_description[i]];
        e_reference := e_reference || ARRAY[p_reference[i], p_reference[i]];
        e_before := e_before || ARRAY[v_balances[s], v_balances[t]];
        v_balances[s] := v_balances[s] - v_amount;
        v_balances[t] := v_balances[t] + v_amount;
        v_sequences[s] := v_sequences[s] + 1;
        v_sequences[t] := v_sequences[t] + 1;
        v_funds[s] := v_funds[s] - v_amount;
        v_funds[t] := v_funds[t] + v_amount;
        e_after := e_after || ARRAY[v_balances[s], v_balances[t]];
        e_sequence := e_sequence || ARRAY[v_sequences[s], v_sequences[t]];
        IF p_tenant IS NULL THEN
            e_funds := e_funds || ARRAY[NULL::bigint, NULL::bigint];
        ELSE
            e_funds := e_funds || ARRAY[v_funds[s], v_funds[t]];
        END IF;
    END LOOP;
    UPDATE billing_accounts a SET balance = v.balance, last_sequence = v.last_sequence, updated_at = p_created_at
    FROM unnest(v_ids, v_balances, v_sequences) AS v(account_id, balance, last_sequence)
    WHERE a.account_id = v.account_id;
    INSERT INTO ledger_entries (entry_id, account_id, type, amount, description, reference_id, balance_after,
                                sequence, corrects_entry_id, tenant_id, tenant_balance_after, created_at)
    SELECT e.entry_id, e.account_id, e.type, e.amount, e.description, e.reference_id, e.balance_after, e.sequence,
           NULL, p_tenant, e.funds_after, p_created_at
    FROM unnest(p_entry_id, e_account, e_type, e_amount, e_description, e_reference, e_after, e_sequence, e_funds)
         AS e(entry_id, account_id, type, amount, description, reference_id, balance_after, sequence, funds_after);
    IF p_tenant IS NOT NULL THEN
        INSERT INTO billing_tenant_funds (id, account_id, tenant_id, balance, updated_at)
        SELECT gen_random_uuid(), v.account_id, p_tenant, v.balance, p_created_at
        FROM unnest(v_ids, v_funds) AS v(account_id, balance)
        ON CONFLICT (account_id, tenant_id)
        DO UPDATE SET balance = EXCLUDED.balance, updated_at = EXCLUDED.updated_at;
    END IF;
    RETURN QUERY
        SELECT e.n::integer, NULL::text, NULL::bigint, e.before_balance, e.after_balance, e.after_sequence,
               e.after_funds
        FROM unnest(e_before, e_after, e_sequence, e_funds)
             WITH ORDINALITY AS e(before_balance, after_balance, after_sequence, after_funds, n);
END;
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0004_refund_permission'),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            LEDGER_POST_APPLY,
            "DROP FUNCTION IF EXISTS ledger_post_apply(uuid, text, bigint, text, text, uuid, uuid, bigint, "
            "timestamptz);"),
        RunSQLOnPostgreSQL(
            LEDGER_TRANSFER_APPLY,
            "DROP FUNCTION IF EXISTS ledger_transfer_apply(uuid[], uuid[], bigint[], text[], text[], uuid[], uuid, "
            "bigint, timestamptz);"),
    ]
