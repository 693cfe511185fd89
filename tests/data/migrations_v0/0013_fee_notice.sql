-- 0013_fee_notice.sql: the fee-request notification states what the citizen
-- pays for the fee. The TTHC system sends the listed fee; a dossier filed
-- online of a procedure with an online discount pays less (the payment's
-- breakdown, cds_payment_breakdown in 0006), and the SMS and push must say
-- that amount, not the listed one.
CREATE OR REPLACE FUNCTION cds_step_vars(p_dossier dossiers, p_step text, p_note text, p_fee bigint,
                                         p_missing jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_name text;
    v_pct smallint;
BEGIN
    SELECT pr.name, pr.online_discount_pct INTO v_name, v_pct
    FROM procedures pr WHERE pr.code = p_dossier.procedure_code;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'dossier_code', p_dossier.code,
        'dossier_id', p_dossier.id,
        'procedure_name', v_name,
        'step', p_step,
        'due_date', to_char(p_dossier.due_date, 'DD/MM/YYYY'),
        'amount', CASE WHEN p_step = 'fee_requested' AND p_dossier.channel = 'online'
                       THEN p_fee - p_fee * v_pct / 100 ELSE p_fee END,
        'note', p_note,
        'missing_documents', p_missing));
END;
$$;
