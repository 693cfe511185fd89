-- db/functions/payment.sql: payment intents of a dossier's fee, bank
-- credits matched to them (or resolved by hand), refunds, expiry and the
-- reconciliation report.
--
-- Repeatable: core/migrate.c runs this whole file again, in one transaction
-- with the other files of db/functions/, whenever any of them changed (see
-- the comment atop core/migrate.c). Every function is defined here only:
-- change it by editing this file, never in a migration.
--
-- Above the cds:after-migrations line: the functions a migration
-- attaches (trigger functions, index expressions). They take and return
-- built-in types only, and that part is also run before pending migrations.

-- A dossier cancelled or rejected closes its open intent (money already
-- received becomes refund_due).
CREATE OR REPLACE FUNCTION cds_payments_on_dossier_end() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cds_payment_close(x, 'cancelled') FROM payments x
    WHERE x.dossier_id = NEW.id AND x.status IN ('created', 'partially_paid');
    RETURN NULL;
END;
$$;

-- An intent's payOS links that it no longer needs become due for
-- cancellation (the payOS cancel outbox, payos_links in 0019): the intent
-- is closed (paid another way, expired, cancelled) or owes another amount
-- than the link asks for. A link a webhook credited through is `paid`
-- first, so it is left alone.
CREATE OR REPLACE FUNCTION cds_payos_links_on_payment() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payos_links SET state = 'cancel_due', next_attempt_at = now(), attempts = 0
    WHERE payment_id = NEW.id AND state IN ('creating', 'active')
      AND (NEW.status NOT IN ('created', 'partially_paid')
           OR amount_vnd <> NEW.amount_vnd - NEW.received_vnd);
    IF FOUND THEN
        PERFORM pg_notify('cds_payos', '');
    END IF;
    RETURN NULL;
END;
$$;

-- cds:after-migrations

-- A payment as the API shows it (the VietQR payload and image links are
-- added in C, from bank_bin, account_no, remaining_vnd and reference). An
-- intent past its expiry that no sweep has closed yet already reads as
-- expired.
CREATE OR REPLACE FUNCTION cds_payment_json(p payments) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p.id, 'dossier_id', p.dossier_id,
        'dossier_code', (SELECT code FROM dossiers WHERE id = p.dossier_id),
        'status', s.status,
        'finished', s.status IN ('paid', 'expired', 'cancelled', 'refunded'),
        'reference', p.reference,
        'amount_vnd', p.amount_vnd, 'received_vnd', p.received_vnd,
        'remaining_vnd', greatest(p.amount_vnd - p.received_vnd, 0),
        'refund_due_vnd', p.refund_due_vnd,
        'breakdown', p.breakdown,
        'bank', jsonb_build_object('bin', p.bank_bin, 'name', p.bank_name,
                                   'account_no', p.account_no, 'account_name', p.account_name),
        'paid_after_expiry', p.paid_after_expiry,
        'expires_at', cds_rfc3339(p.expires_at), 'created_at', cds_rfc3339(p.created_at),
        'paid_at', cds_rfc3339(p.paid_at),
        'provider', p.provider,
        'payos', (SELECT jsonb_build_object('order_code', l.order_code,
                                            'checkout_url', l.checkout_url, 'qr_code', l.qr_code)
                  FROM payos_links l WHERE l.payment_id = p.id AND l.state = 'active'
                    AND s.status IN ('created', 'partially_paid')))
    FROM (SELECT CASE WHEN p.status IN ('created', 'partially_paid') AND p.expires_at <= now()
                      THEN 'expired' ELSE p.status END AS status) s
$$;

-- An intent that no longer takes money for its dossier's current request.
-- Money already received is not lost: an expired intent's money counts as
-- an advance on the next intent for the same fee request; otherwise it is
-- owed back (refund_due).
CREATE OR REPLACE FUNCTION cds_payment_close(p payments, p_status text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payments
    SET status = CASE WHEN p_status = 'cancelled' AND p.received_vnd > 0 THEN 'refund_due'
                      ELSE p_status END,
        refund_due_vnd = refund_due_vnd
                         + CASE WHEN p_status = 'cancelled' THEN p.received_vnd ELSE 0 END,
        finished_at = now()
    WHERE id = p.id;
END;
$$;

-- What the citizen owes for the dossier's fee request `ev`, as shown to them.
CREATE OR REPLACE FUNCTION cds_payment_breakdown(d dossiers, ev dossier_events, acct payment_accounts)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pr procedures;
    v_fee bigint;
    v_discount bigint := 0;
    v_delivery bigint := 0;
    v_advance bigint;
BEGIN
    SELECT * INTO pr FROM procedures WHERE code = d.procedure_code;
    -- The fee the TTHC system asked for, or the catalog's; both are listed
    -- fees, before the online discount.
    v_fee := COALESCE(ev.fee_vnd, pr.fee_vnd);
    IF d.channel = 'online' THEN
        v_discount := v_fee * pr.online_discount_pct / 100;
    END IF;
    -- Delivery by post is paid with the first fee, unless collected on delivery.
    IF d.delivery->>'method' = 'post' AND NOT COALESCE((d.delivery->>'cod')::boolean, false)
       AND NOT EXISTS (SELECT 1 FROM payments x WHERE x.dossier_id = d.id
                       AND x.status IN ('paid', 'refund_due', 'refunded')
                       AND (x.breakdown->>'delivery_fee_vnd')::bigint > 0) THEN
        v_delivery := COALESCE((d.delivery->>'fee_vnd')::bigint, 0);
    END IF;
    -- Already paid towards this request: at the counter (the TTHC system
    -- says so) or into an intent that expired before it was complete.
    v_advance := COALESCE((ev.detail->>'advance_vnd')::bigint, 0)
        + COALESCE((SELECT sum(x.received_vnd) FROM payments x
                    WHERE x.request_event_id = ev.id AND x.status = 'expired'), 0);
    RETURN jsonb_build_object(
        'fee_vnd', v_fee, 'online_discount_vnd', v_discount,
        'online_discount_pct', CASE WHEN v_discount > 0 THEN pr.online_discount_pct ELSE 0 END,
        'service_charge_vnd', acct.service_charge_vnd, 'delivery_fee_vnd', v_delivery,
        'advance_vnd', v_advance,
        'amount_vnd', v_fee - v_discount + acct.service_charge_vnd + v_delivery - v_advance);
END;
$$;

-- The citizen asks to pay their dossier's fee: the open intent, or a new one
-- with the given reference (generated in C). Opens on one dossier are
-- serialized by its row lock, so asking twice at once gives one intent.
-- status: created | existing | not_found | not_payable | no_account |
--         nothing_to_pay | reference_taken (the caller retries with another)
CREATE OR REPLACE FUNCTION cds_payment_open(p_dossier uuid, p_citizen uuid, p_reference text,
    OUT status text, OUT payment jsonb, OUT dossier_status text)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    ev dossier_events;
    p payments;
    acct payment_accounts;
    b jsonb;
BEGIN
    SELECT * INTO d FROM dossiers WHERE id = p_dossier AND citizen_id = p_citizen FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    dossier_status := d.status;
    IF d.status <> 'fee_requested' THEN
        status := 'not_payable';
        RETURN;
    END IF;
    SELECT * INTO ev FROM dossier_events
    WHERE dossier_id = d.id AND step = 'fee_requested' AND applied
    ORDER BY occurred_at DESC, id DESC LIMIT 1;
    SELECT * INTO p FROM payments WHERE dossier_id = d.id AND payments.status IN ('created', 'partially_paid');
    IF FOUND THEN
        IF p.expires_at > now() AND p.request_event_id = ev.id THEN
            status := 'existing';
            payment := cds_payment_json(p);
            RETURN;
        END IF;
        PERFORM cds_payment_close(p, CASE WHEN p.request_event_id = ev.id THEN 'expired'
                                          ELSE 'cancelled' END);
    END IF;
    SELECT a.* INTO acct FROM payment_accounts a
    JOIN procedures pr ON pr.agency_code = a.agency_code WHERE pr.code = d.procedure_code;
    IF NOT FOUND THEN
        status := 'no_account';
        RETURN;
    END IF;
    b := cds_payment_breakdown(d, ev, acct);
    IF (b->>'amount_vnd')::bigint <= 0 THEN
        status := 'nothing_to_pay';
        payment := jsonb_build_object('breakdown', b);
        RETURN;
    END IF;
    BEGIN
        INSERT INTO payments (dossier_id, citizen_id, agency_code, request_event_id, reference,
                              bank_bin, bank_name, account_no, account_name, breakdown, amount_vnd,
                              expires_at, provider)
        VALUES (d.id, d.citizen_id, acct.agency_code, ev.id, p_reference, acct.bank_bin,
                acct.bank_name, acct.account_no, acct.account_name, b, (b->>'amount_vnd')::bigint,
                now() + acct.intent_ttl, acct.provider)
        RETURNING * INTO p;
    EXCEPTION WHEN unique_violation THEN
        status := 'reference_taken';
        RETURN;
    END;
    status := 'created';
    payment := cds_payment_json(p);
END;
$$;

-- The owner's latest payment for a dossier (any state).
-- status: ok | not_found (no such dossier of theirs) | no_payment
CREATE OR REPLACE FUNCTION cds_payment_get(p_dossier uuid, p_citizen uuid, OUT status text, OUT payment jsonb)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    p payments;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dossiers WHERE id = p_dossier AND citizen_id = p_citizen) THEN
        status := 'not_found';
        RETURN;
    END IF;
    SELECT * INTO p FROM payments WHERE dossier_id = p_dossier ORDER BY created_at DESC, id LIMIT 1;
    IF NOT FOUND THEN
        status := 'no_payment';
        RETURN;
    END IF;
    status := 'ok';
    payment := cds_payment_json(p);
END;
$$;

-- Money for intent p (locked by the caller): how much pays the fee
-- (applied) and how much is owed back (excess), the intent's new state, and
-- its consequences in this transaction: the dossier step `paid` when the
-- intent becomes paid, or a notification of what remains when it is only
-- partly paid. A cancelled intent takes nothing: all of it is owed back.
CREATE OR REPLACE FUNCTION cds_payment_take(p payments, p_amount bigint, p_at timestamptz,
    OUT applied bigint, OUT excess bigint, OUT after_expiry boolean, OUT new_status text)
LANGUAGE plpgsql AS $$
DECLARE
    d dossiers;
    v_step record;
    v_remaining bigint := greatest(p.amount_vnd - p.received_vnd, 0);
    v_open boolean := p.status IN ('created', 'partially_paid', 'expired');
BEGIN
    after_expiry := p.status = 'expired' OR (v_open AND p.expires_at <= now());
    applied := CASE WHEN v_open THEN least(p_amount, v_remaining) ELSE 0 END;
    excess := p_amount - applied;
    new_status := CASE
        WHEN NOT v_open THEN CASE WHEN p.status = 'refunded' OR excess > 0 THEN 'refund_due'
                                  ELSE p.status END
        WHEN p.received_vnd + applied >= p.amount_vnd THEN
            CASE WHEN excess > 0 THEN 'refund_due' ELSE 'paid' END
        WHEN p.status = 'expired' THEN 'expired'
        ELSE 'partially_paid' END;
    UPDATE payments
    SET status = new_status, received_vnd = received_vnd + applied,
        refund_due_vnd = refund_due_vnd + excess,
        paid_after_expiry = paid_after_expiry OR (after_expiry AND applied > 0),
        paid_at = CASE WHEN new_status IN ('paid', 'refund_due') AND paid_at IS NULL
                       AND applied > 0 THEN p_at ELSE paid_at END,
        finished_at = CASE WHEN new_status IN ('paid', 'refund_due') THEN now() ELSE finished_at END
    WHERE id = p.id;
    IF NOT v_open OR applied = 0 THEN
        RETURN;
    END IF;
    IF new_status IN ('paid', 'refund_due') THEN
        -- Another intent still open for this dossier (asked for after this one
        -- expired) is not needed any more. Only an expired intent can have
        -- one: payments_open allows one open intent per dossier. (Issue 21:
        -- asked for every credit, the generic plan of this query scanned
        -- every open intent's entry in payments_expiring.)
        IF p.status = 'expired' THEN
            PERFORM cds_payment_close(x, 'cancelled') FROM payments x
            WHERE x.dossier_id = p.dossier_id AND x.id <> p.id
              AND x.status IN ('created', 'partially_paid');
        END IF;
        -- The dossier's paid step, when it still waits for the fee (a
        -- cancelled dossier, or one paid at the counter, takes no step): one
        -- statement reads and locks the dossier, the step is an assignment
        -- on that row (issue 21: the step no longer reads it again by code).
        SELECT * INTO d FROM dossiers WHERE id = p.dossier_id FOR UPDATE;
        IF d.status = 'fee_requested' THEN
            v_step := cds_dossier_step_locked(d, 'payment', 'paid:' || p.id, 'paid', now(), NULL,
                                              p.received_vnd + applied, NULL,
                                              jsonb_build_object('payment_id', p.id,
                                                                 'reference', p.reference,
                                                                 'after_expiry', after_expiry));
        END IF;
    ELSIF new_status = 'partially_paid' THEN
        SELECT * INTO d FROM dossiers WHERE id = p.dossier_id;
        PERFORM cds_outbox_for_step(d, NULL, 'payment_partial',
            cds_step_vars(d, 'payment_partial', NULL, p.amount_vnd - p.received_vnd - applied, NULL)
            || jsonb_build_object('received', p.received_vnd + applied));
    END IF;
END;
$$;

-- A bank transfer's identity whoever reports it (issue 14: the same transfer
-- reported by two providers was credited twice): receiving account + the
-- bank's own reference + amount + value date (the bank day in Vietnam), as
-- account|REFERENCE|amount|YYYY-MM-DD, spaces removed and letters
-- upper-cased (providers differ in case and spacing, never in the
-- characters). NULL without a bank reference: account, amount and day alone
-- do not tell two citizens' transfers apart, so nothing is safe to merge such
-- a report with, and crediting it could credit a transfer another provider
-- already reported; cds_payment_credit holds it for a person instead
-- (hold_reason no_bank_reference). payOS, Casso and SePay all send the bank
-- reference with a bank transfer.
CREATE OR REPLACE FUNCTION cds_transfer_key(p_account text, p_bank_ref text, p_amount bigint,
    p_at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN regexp_replace(COALESCE(p_bank_ref, ''), '\s', '', 'g') = '' THEN NULL
           ELSE upper(regexp_replace(COALESCE(p_account, ''), '\s', '', 'g')) || '|'
                || upper(regexp_replace(p_bank_ref, '\s', '', 'g')) || '|' || p_amount || '|'
                || to_char(cds_vn_date(p_at), 'YYYY-MM-DD') END
$$;

-- Records one credit reported by a provider webhook and applies it to the
-- intent whose reference the C code found in its description (NULL: none
-- found). Once per provider transaction id (a provider's retry), and once
-- per transfer (another provider's report of it: recorded as a duplicate).
-- The e-receipt of the part that pays the fee is issued last, so the
-- numbering row is locked for as short a time as possible.
-- status: applied | duplicate (the same provider report again: nothing
--         recorded) | duplicate_transfer (a further report of a recorded
--         transfer: recorded as such, credits nothing; tx_id, payment_id and
--         receipt_id are the first report's). When the first report matched
--         no intent and this one does, the first row is credited now and the
--         status is applied (tx_id the first row's; this report is still
--         recorded as its duplicate).
-- match: matched | unmatched (| the first report's, for duplicate_transfer)
-- p_order_code: a payOS report's orderCode. One of our payment links names
-- its intent (whatever the text says) and the link becomes `paid`; an
-- orderCode that is none of ours falls back to the reference in the text,
-- and with none there either nothing is recorded: status unknown_order
-- (payOS's sample call when the webhook URL is confirmed is one).
DROP FUNCTION IF EXISTS cds_payment_credit(text, text, bigint, text, text, text, text, text, text,
    timestamptz, text);
CREATE OR REPLACE FUNCTION cds_payment_credit(p_provider text, p_tx_id text, p_amount bigint,
    p_description text, p_account text, p_bin text, p_bank_ref text, p_counter_account text,
    p_counter_name text, p_at timestamptz, p_reference text, p_order_code bigint,
    p_trace text DEFAULT NULL,
    OUT status text, OUT match text, OUT tx_id bigint, OUT payment_id uuid,
    OUT payment_status text, OUT receipt_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    p payments;
    t record;
    f bank_transactions;
    v_key text := cds_transfer_key(p_account, p_bank_ref, p_amount, p_at);
    v_link bigint;
    v_link_ref text;
    v_receipt uuid;
    v_dup_id bigint;
    v_void text;
BEGIN
    -- Calls made for their effect are assignments, not PERFORM (issue 21):
    -- plpgsql evaluates an assignment without starting an executor; a void
    -- result cast to text is ''.
    v_void := cds_trace_set(p_trace)::text;
    IF p_order_code IS NOT NULL THEN
        SELECT l.order_code, x.reference INTO v_link, v_link_ref
        FROM payos_links l JOIN payments x ON x.id = l.payment_id WHERE l.order_code = p_order_code;
        IF v_link IS NOT NULL THEN
            p_reference := v_link_ref;
        ELSIF p_reference IS NULL THEN
            status := 'unknown_order';
            RETURN;
        END IF;
    END IF;
    -- Every report of one transfer queues here first, whatever its provider
    -- and whether or not its description names an intent.
    IF v_key IS NOT NULL THEN
        v_void := pg_advisory_xact_lock(hashtextextended('cds_transfer ' || v_key, 0))::text;
    END IF;
    -- Then the intent: a concurrent delivery of the same transaction waits
    -- on its lock, then finds the row below. Without a transfer key nothing
    -- is credited automatically (see cds_transfer_key), so no intent.
    IF p_reference IS NOT NULL AND v_key IS NOT NULL THEN
        SELECT * INTO p FROM payments x WHERE x.reference = p_reference FOR UPDATE;
    END IF;
    -- This provider's report already recorded (a retry), and the transfer's
    -- first report (another provider's): one statement for both lookups.
    SELECT r.id, r.match_status, r.payment_id, r.receipt_id, r.pay_status,
           (SELECT b.id FROM bank_transactions b
            WHERE v_key IS NOT NULL AND b.transfer_key = v_key AND b.duplicate_of IS NULL)
    INTO tx_id, match, payment_id, receipt_id, payment_status, v_dup_id
    FROM (SELECT 1) one
    LEFT JOIN (SELECT b.id, b.match_status, b.payment_id, b.receipt_id, x.status AS pay_status
               FROM bank_transactions b LEFT JOIN payments x ON x.id = b.payment_id
               WHERE b.provider = p_provider AND b.provider_tx_id = p_tx_id) r ON true;
    IF tx_id IS NOT NULL THEN
        status := 'duplicate';
        RETURN;
    END IF;
    -- Paid through this link: not to be cancelled as paid another way.
    IF v_link IS NOT NULL THEN
        UPDATE payos_links SET state = 'paid', next_attempt_at = NULL
        WHERE order_code = v_link AND state IN ('creating', 'active', 'cancel_due');
    END IF;
    IF v_dup_id IS NOT NULL THEN
        SELECT * INTO f FROM bank_transactions b WHERE b.id = v_dup_id;
        IF FOUND THEN
            INSERT INTO bank_transactions (provider, provider_tx_id, amount_vnd, description,
                account_no, bank_bin, bank_reference, counter_account, counter_name, transacted_at,
                reference, match_status, transfer_key, duplicate_of)
            VALUES (p_provider, p_tx_id, p_amount, p_description, p_account, p_bin, p_bank_ref,
                    p_counter_account, p_counter_name, p_at, p_reference, 'duplicate', v_key, f.id)
            ON CONFLICT (provider, provider_tx_id) DO NOTHING;
            status := 'duplicate_transfer';
            IF f.match_status = 'unmatched' AND p.id IS NOT NULL THEN
                -- The first report named no intent and this one does: the
                -- transfer (the first row) is credited now, still once.
                SELECT * INTO t FROM cds_payment_take(p, f.amount_vnd, f.transacted_at);
                UPDATE bank_transactions b
                SET payment_id = p.id, applied_vnd = t.applied, excess_vnd = t.excess,
                    match_status = 'matched', after_expiry = t.after_expiry,
                    reference = p_reference
                WHERE b.id = f.id
                RETURNING * INTO f;
                IF t.applied > 0 THEN
                    f.receipt_id := cds_receipt_issue(f.id);
                    UPDATE bank_transactions b SET receipt_id = f.receipt_id
                    WHERE b.id = f.id AND f.receipt_id IS NOT NULL;
                END IF;
                status := 'applied';
            END IF;
            match := f.match_status;
            tx_id := f.id;
            payment_id := f.payment_id;
            receipt_id := f.receipt_id;
            SELECT x.status INTO payment_status FROM payments x WHERE x.id = f.payment_id;
            RETURN;
        END IF;
    END IF;
    IF p.id IS NULL THEN
        INSERT INTO bank_transactions (provider, provider_tx_id, amount_vnd, description, account_no,
            bank_bin, bank_reference, counter_account, counter_name, transacted_at, reference,
            match_status, transfer_key, hold_reason)
        VALUES (p_provider, p_tx_id, p_amount, p_description, p_account, p_bin, p_bank_ref,
                p_counter_account, p_counter_name, p_at, p_reference, 'unmatched', v_key,
                CASE WHEN v_key IS NULL THEN 'no_bank_reference' END)
        ON CONFLICT (provider, provider_tx_id) DO NOTHING
        RETURNING id INTO tx_id;
        -- Nothing inserted: the same unmatched transfer committed meanwhile.
        status := CASE WHEN tx_id IS NULL THEN 'duplicate' ELSE 'applied' END;
        match := 'unmatched';
        RETURN;
    END IF;
    t := cds_payment_take(p, p_amount, p_at);  -- an assignment: no executor around the call
    -- The receipt's id goes into the row as it is inserted (one row version,
    -- not an insert and an update); the receipt follows with that id.
    v_receipt := CASE WHEN t.applied > 0 THEN gen_random_uuid() END;
    INSERT INTO bank_transactions (provider, provider_tx_id, amount_vnd, description, account_no,
        bank_bin, bank_reference, counter_account, counter_name, transacted_at, reference,
        payment_id, applied_vnd, excess_vnd, match_status, after_expiry, transfer_key, receipt_id)
    VALUES (p_provider, p_tx_id, p_amount, p_description, p_account, p_bin, p_bank_ref,
            p_counter_account, p_counter_name, p_at, p_reference, p.id, t.applied, t.excess,
            'matched', t.after_expiry, v_key, v_receipt)
    RETURNING id INTO tx_id;
    IF t.applied > 0 THEN
        receipt_id := cds_receipt_issue(tx_id, v_receipt);
        IF receipt_id IS DISTINCT FROM v_receipt THEN
            UPDATE bank_transactions SET receipt_id = cds_payment_credit.receipt_id WHERE id = tx_id;
        END IF;
    END IF;
    status := 'applied';
    match := 'matched';
    payment_id := p.id;
    payment_status := t.new_status;
END;
$$;

-- An operator assigns an unmatched transfer to a dossier's payment (the open
-- intent, else its latest one), with the same consequences as a match, and
-- the act goes into the audit log.
-- status: resolved | not_found | not_unmatched | dossier_not_found | no_payment
CREATE OR REPLACE FUNCTION cds_payment_resolve(p_tx bigint, p_dossier_code text, p_actor text, p_reason text,
    p_trace text DEFAULT NULL,
    OUT status text, OUT payment_id uuid, OUT payment_status text, OUT receipt_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    b bank_transactions;
    p payments;
    v_dossier uuid;
    t record;
BEGIN
    PERFORM cds_trace_set(p_trace);
    SELECT * INTO b FROM bank_transactions WHERE id = p_tx FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF b.match_status <> 'unmatched' THEN
        status := 'not_unmatched';
        payment_id := b.payment_id;
        RETURN;
    END IF;
    SELECT id INTO v_dossier FROM dossiers WHERE code = p_dossier_code;
    IF NOT FOUND THEN
        status := 'dossier_not_found';
        RETURN;
    END IF;
    SELECT * INTO p FROM payments x WHERE x.dossier_id = v_dossier
    ORDER BY x.status IN ('created', 'partially_paid') DESC, x.created_at DESC LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        status := 'no_payment';
        RETURN;
    END IF;
    SELECT * INTO t FROM cds_payment_take(p, b.amount_vnd, b.transacted_at);
    UPDATE bank_transactions
    SET payment_id = p.id, applied_vnd = t.applied, excess_vnd = t.excess, match_status = 'resolved',
        after_expiry = t.after_expiry
    WHERE id = b.id;
    IF t.applied > 0 THEN
        receipt_id := cds_receipt_issue(b.id);
        IF receipt_id IS NOT NULL THEN
            UPDATE bank_transactions SET receipt_id = cds_payment_resolve.receipt_id WHERE id = b.id;
        END IF;
    END IF;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'payment.resolve', 'bank_transaction:' || b.id, p_reason,
            jsonb_build_object('dossier_code', p_dossier_code, 'payment_id', p.id,
                               'applied_vnd', t.applied, 'excess_vnd', t.excess));
    status := 'resolved';
    payment_id := p.id;
    payment_status := t.new_status;
END;
$$;

-- An operator records that the money owed back on an intent was returned.
-- status: refunded | not_found | not_refund_due
CREATE OR REPLACE FUNCTION cds_payment_refunded(p_payment uuid, p_actor text, p_reason text,
    OUT status text, OUT refunded_vnd bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p payments;
BEGIN
    SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF p.status <> 'refund_due' THEN
        status := 'not_refund_due';
        RETURN;
    END IF;
    refunded_vnd := p.refund_due_vnd;
    UPDATE payments SET status = 'refunded', finished_at = now() WHERE id = p.id;
    INSERT INTO audit_log (actor, action, subject, reason, detail)
    VALUES (p_actor, 'payment.refunded', 'payment:' || p.id, p_reason,
            jsonb_build_object('refunded_vnd', refunded_vnd));
    status := 'refunded';
END;
$$;

-- Closes intents past their expiry (at most p_limit per call); run
-- periodically. Reads of an intent already show it expired.
CREATE OR REPLACE FUNCTION cds_payment_expire(p_limit int) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    UPDATE payments SET status = 'expired', finished_at = now()
    WHERE id IN (SELECT id FROM payments
                 WHERE status IN ('created', 'partially_paid') AND expires_at <= now()
                 ORDER BY expires_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END;
$$;

-- Reconciliation, per bank day and receiving account: what arrived (each
-- transfer once), what was matched to an intent (automatically or by hand),
-- what waits for a person, what is owed back, and the further reports of
-- transfers already counted (duplicate_count / duplicate_vnd: a second
-- provider reporting the same transfer), which credited nothing.
DROP FUNCTION IF EXISTS cds_payment_reconciliation(date, date);
CREATE OR REPLACE FUNCTION cds_payment_reconciliation(p_from date, p_to date)
RETURNS TABLE (day date, account_no text, received_count bigint, received_vnd bigint,
               matched_count bigint, matched_vnd bigint, unmatched_count bigint,
               unmatched_vnd bigint, refund_due_vnd bigint, after_expiry_count bigint,
               duplicate_count bigint, duplicate_vnd bigint)
LANGUAGE sql STABLE AS $$
    SELECT cds_vn_date(b.transacted_at), b.account_no,
           count(*) FILTER (WHERE b.match_status <> 'duplicate'),
           COALESCE(sum(b.amount_vnd) FILTER (WHERE b.match_status <> 'duplicate'), 0)::bigint,
           count(*) FILTER (WHERE b.match_status IN ('matched', 'resolved')),
           COALESCE(sum(b.amount_vnd) FILTER (WHERE b.match_status IN ('matched', 'resolved')), 0)::bigint,
           count(*) FILTER (WHERE b.match_status = 'unmatched'),
           COALESCE(sum(b.amount_vnd) FILTER (WHERE b.match_status = 'unmatched'), 0)::bigint,
           sum(b.excess_vnd)::bigint,
           count(*) FILTER (WHERE b.after_expiry),
           count(*) FILTER (WHERE b.match_status = 'duplicate'),
           COALESCE(sum(b.amount_vnd) FILTER (WHERE b.match_status = 'duplicate'), 0)::bigint
    FROM bank_transactions b
    WHERE cds_vn_date(b.transacted_at) BETWEEN p_from AND p_to
    GROUP BY 1, 2
    ORDER BY 1, 2
$$;

-- payOS payment links (payos_links in 0019; payment/payos*.c).
--
-- What the citizen's open of intent p_payment needs from payOS:
--   none     not a payOS intent, or not open
--   active   its link is recorded (order_code): nothing to call
--   create   a new link row (order_code, amount, description, expiry): call
--            payOS's create with it
--   retry    a create whose answer was never recorded (a crash, a timeout,
--            older than p_stale_s): call create again with the same row;
--            payOS refuses an orderCode it already has (code 231), see
--            cds_payos_link_settle
--   busy     a create of this intent is in flight elsewhere
-- A link for another amount than what is owed now is set for cancellation.
CREATE OR REPLACE FUNCTION cds_payos_link_prepare(p_payment uuid, p_stale_s int, p_desc_max int,
    OUT action text, OUT order_code bigint, OUT amount_vnd bigint, OUT description text,
    OUT expires_epoch bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p payments;
    l payos_links;
    v_live boolean;
BEGIN
    SELECT * INTO p FROM payments WHERE id = p_payment FOR UPDATE;
    IF NOT FOUND OR p.provider <> 'payos' OR p.status NOT IN ('created', 'partially_paid')
       OR p.expires_at <= now() THEN
        action := 'none';
        RETURN;
    END IF;
    SELECT * INTO l FROM payos_links x WHERE x.payment_id = p.id AND x.state IN ('creating', 'active');
    v_live := FOUND;
    IF v_live AND l.amount_vnd <> p.amount_vnd - p.received_vnd THEN
        UPDATE payos_links x SET state = 'cancel_due', next_attempt_at = now(), attempts = 0
        WHERE x.order_code = l.order_code;
        PERFORM pg_notify('cds_payos', '');
        v_live := false;
    END IF;
    IF v_live THEN
        order_code := l.order_code;
        IF l.state = 'active' THEN
            action := 'active';
        ELSIF l.updated_at > now() - make_interval(secs => p_stale_s) THEN
            action := 'busy';
        ELSE
            UPDATE payos_links x SET attempts = x.attempts + 1 WHERE x.order_code = l.order_code;
            action := 'retry';
            amount_vnd := l.amount_vnd;
            description := l.description;
            expires_epoch := extract(epoch FROM l.expires_at)::bigint;
        END IF;
        RETURN;
    END IF;
    INSERT INTO payos_links (order_code, payment_id, amount_vnd, description, expires_at)
    VALUES (nextval('payos_order_code_seq'), p.id, p.amount_vnd - p.received_vnd,
            left(p.reference, greatest(1, least(p_desc_max, 25))), p.expires_at)
    RETURNING * INTO l;
    action := 'create';
    order_code := l.order_code;
    amount_vnd := l.amount_vnd;
    description := l.description;
    expires_epoch := extract(epoch FROM l.expires_at)::bigint;
END;
$$;

-- payOS created link p_order_code: it is recorded and served, or, when its
-- intent closed meanwhile (the row is cancel_due), kept for the cancel.
-- Returns active | closed | unknown.
CREATE OR REPLACE FUNCTION cds_payos_link_created(p_order_code bigint, p_link_id text,
    p_checkout_url text, p_qr_code text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payos_links SET state = 'active', link_id = p_link_id, checkout_url = p_checkout_url,
                           qr_code = p_qr_code, error = NULL
    WHERE order_code = p_order_code AND state = 'creating';
    IF FOUND THEN
        RETURN 'active';
    END IF;
    UPDATE payos_links SET link_id = COALESCE(link_id, p_link_id) WHERE order_code = p_order_code;
    RETURN CASE WHEN FOUND THEN 'closed' ELSE 'unknown' END;
END;
$$;

-- A link row still `creating` whose create payOS will not answer with a
-- link: p_outcome pending (payOS has it, from a create whose answer was
-- lost: nobody has its QR, so it is cancelled and the next open makes a
-- new one), paid, gone (cancelled or expired at payOS), failed (payOS
-- refused the request: p_error).
CREATE OR REPLACE FUNCTION cds_payos_link_settle(p_order_code bigint, p_outcome text, p_error text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payos_links
    SET state = CASE p_outcome WHEN 'pending' THEN 'cancel_due' WHEN 'paid' THEN 'paid'
                               WHEN 'gone' THEN 'cancelled' ELSE 'failed' END,
        next_attempt_at = CASE WHEN p_outcome = 'pending' THEN now() END,
        attempts = 0, error = p_error
    WHERE order_code = p_order_code AND state = 'creating';
    IF p_outcome = 'pending' THEN
        PERFORM pg_notify('cds_payos', '');
    END IF;
END;
$$;

-- The payOS cancel outbox: due cancellations, at most p_limit, claimed for
-- p_timeout_s (a claim not answered by then is due again).
CREATE OR REPLACE FUNCTION cds_payos_cancel_claim(p_node text, p_limit int, p_timeout_s int)
RETURNS TABLE (order_code bigint, link_id text, attempts int)
LANGUAGE sql AS $$
    UPDATE payos_links l
    SET attempts = l.attempts + 1, claimed_by = p_node,
        next_attempt_at = now() + make_interval(secs => p_timeout_s)
    WHERE l.order_code IN (SELECT x.order_code FROM payos_links x
                           WHERE x.state = 'cancel_due' AND x.next_attempt_at <= now()
                           ORDER BY x.next_attempt_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING l.order_code, l.link_id, l.attempts
$$;

-- The result of cancel attempt p_attempt: cancelled, paid (payOS says the
-- link was paid: its webhook credits), retry (after p_retry_ms), failed.
-- Applied only to the claim it answers.
CREATE OR REPLACE FUNCTION cds_payos_cancel_result(p_order_code bigint, p_attempt int,
    p_outcome text, p_error text, p_retry_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE payos_links
    SET state = CASE p_outcome WHEN 'retry' THEN 'cancel_due' ELSE p_outcome END,
        next_attempt_at = CASE WHEN p_outcome = 'retry'
                               THEN now() + make_interval(secs => p_retry_ms / 1000.0) END,
        error = p_error, claimed_by = NULL
    WHERE order_code = p_order_code AND attempts = p_attempt AND state = 'cancel_due'
      AND p_outcome IN ('cancelled', 'paid', 'retry', 'failed');
    RETURN CASE WHEN FOUND THEN 'recorded' ELSE 'stale' END;
END;
$$;
