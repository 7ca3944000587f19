# PostgreSQL: a spend that nothing stands in the way of, as one function call (ads.services.spend calls it in one
# statement that also stages its two audit events). Elsewhere, and whenever it declines, the locking path decides.

from django.db import migrations

from core.operations import RunSQLOnPostgreSQL

# The locks in the ads app's order (ads.services.common): the tenant's limits row, the budget, the campaign, then the
# billing account inside ledger_post_apply. The function applies the spend only when every rule lets it and nothing
# else is due: no kill switch of the tenant, the budget open, active, in its period and left with more than the amount
# (a spend that exhausts it stops campaigns, which the locking path does), the campaign active on that budget with
# the name, tenant and billing account the caller read, the ad account active, the tenant's daily and per-campaign
# limits not reached, no applied spend with the key, the tenant's funds enough. Otherwise it writes nothing and says
# why in ``refusal`` (a word for diagnosis: the locking path then names the refusal and records it).
ADS_SPEND_APPLY = """
CREATE OR REPLACE FUNCTION ads_spend_apply(
    p_campaign uuid, p_budget uuid, p_tenant uuid, p_account uuid, p_name text, p_amount bigint, p_quantity bigint,
    p_unit text, p_key text, p_day date, p_event_id uuid, p_entry_id uuid, p_description text, p_reference text,
    p_max_balance bigint, p_now timestamptz)
RETURNS TABLE (entry_no integer, refusal text, available bigint, before_balance bigint, after_balance bigint,
               after_sequence bigint, after_funds bigint, budget_spent bigint, budget_total bigint,
               campaign_total_spent bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_limits record;
    v_budget record;
    v_campaign record;
    v_posted record;
    v_spent_today bigint;
    v_declined text;
BEGIN
    SELECT l.kill_switch, l.max_spend_per_day, l.max_spend_per_campaign INTO v_limits
    FROM ad_governance_limits l WHERE l.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND OR v_limits.kill_switch THEN
        v_declined := 'tenant_limits';
    ELSE
        SELECT b.amount_total, b.amount_spent, b.status, b.period_end, b.closed_at INTO v_budget
        FROM ad_budgets b WHERE b.id = p_budget FOR UPDATE;
        IF NOT FOUND OR v_budget.closed_at IS NOT NULL OR v_budget.period_end <= p_now
           OR v_budget.status <> 'active' OR v_budget.amount_spent + p_amount >= v_budget.amount_total THEN
            v_declined := 'budget';
        END IF;
    END IF;
    IF v_declined IS NULL THEN
        SELECT c.budget_id, c.status, c.total_spent, c.name, a.status AS account_status, a.tenant_id,
               a.balance_account_id INTO v_campaign
        FROM ad_campaigns c JOIN ad_accounts a ON a.id = c.ad_account_id WHERE c.id = p_campaign FOR UPDATE OF c;
        IF NOT FOUND OR v_campaign.budget_id <> p_budget OR v_campaign.status <> 'active'
           OR v_campaign.account_status <> 'active' OR v_campaign.name <> p_name OR v_campaign.tenant_id <> p_tenant
           OR v_campaign.balance_account_id <> p_account THEN
            v_declined := 'campaign';
        ELSIF v_campaign.total_spent + p_amount > v_limits.max_spend_per_campaign THEN
            v_declined := 'tenant_campaign_limit';
        END IF;
    END IF;
    IF v_declined IS NULL THEN
        IF v_limits.max_spend_per_day IS NOT NULL THEN
            SELECT d.amount_spent INTO v_spent_today FROM ad_tenant_daily_spend d
            WHERE d.tenant_id = p_tenant AND d.day = p_day;
            IF coalesce(v_spent_today, 0) + p_amount > v_limits.max_spend_per_day THEN
                v_declined := 'tenant_daily_limit';
            END IF;
        END IF;
        IF p_key <> '' AND EXISTS (
            SELECT 1 FROM ad_spend_events e
            WHERE e.campaign_id = p_campaign AND e.idempotency_key = p_key AND e.status = 'applied') THEN
            v_declined := 'replay';
        END IF;
    END IF;
    IF v_declined IS NULL THEN
        SELECT * INTO v_posted FROM ledger_post_apply(p_account, 'debit', p_amount, p_description, p_reference,
                                                      p_entry_id, p_tenant, p_max_balance, p_now);
        v_declined := v_posted.refusal;
    END IF;
    IF v_declined IS NOT NULL THEN
        RETURN QUERY SELECT 1, v_declined, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
                            NULL::bigint, NULL::bigint, NULL::bigint;
        RETURN;
    END IF;
    INSERT INTO ad_spend_events (id, campaign_id, budget_id, tenant_id, amount, quantity, unit, status,
                                 ledger_entry_id, failure_reason, failure_message, idempotency_key, created_at)
    VALUES (p_event_id, p_campaign, p_budget, p_tenant, p_amount, p_quantity, p_unit, 'applied', p_entry_id, '', '',
            p_key, p_now);
    UPDATE ad_budgets SET amount_spent = amount_spent + p_amount, updated_at = p_now WHERE id = p_budget;
    UPDATE ad_campaigns SET total_spent = total_spent + p_amount, updated_at = p_now WHERE id = p_campaign;
    INSERT INTO ad_tenant_daily_spend (id, tenant_id, day, amount_spent, spend_count, updated_at)
    VALUES (gen_random_uuid(), p_tenant, p_day, p_amount, 1, p_now)
    ON CONFLICT (tenant_id, day) DO UPDATE
    SET amount_spent = ad_tenant_daily_spend.amount_spent + EXCLUDED.amount_spent,
        spend_count = ad_tenant_daily_spend.spend_count + 1, updated_at = EXCLUDED.updated_at;
    RETURN QUERY SELECT 1, NULL::text, NULL::bigint, v_posted.before_balance, v_posted.after_balance,
                        v_posted.after_sequence, v_posted.after_funds, v_budget.amount_spent + p_amount,
                        v_budget.amount_total, v_campaign.total_spent + p_amount;
END;
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('ads', '0001_initial'),
        ('billing', '0005_ledger_functions'),
    ]

    operations = [
        RunSQLOnPostgreSQL(
            ADS_SPEND_APPLY,
            "DROP FUNCTION IF EXISTS ads_spend_apply(uuid, uuid, uuid, uuid, text, bigint, bigint, text, text, date, "
            "uuid, uuid, text, text, bigint, timestamptz);"),
    ]
