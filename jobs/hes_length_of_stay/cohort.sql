-- One row per patient: their first hospital spell (by admission date) that ended in a discharge
-- and has a primary diagnosis, with its length of stay in days and the ICD-10 chapter of the
-- primary diagnosis of the spell's first episode. The length of stay is recorded on the
-- spell's last episode (HES gives the discharge date there), so it is taken over the spell.
WITH episodes AS (
    SELECT
        patient_id,
        spell_id,
        admission_date,
        length_of_stay,
        primary_diagnosis,
        row_number() OVER (
            PARTITION BY patient_id, spell_id
            ORDER BY episode_start_date, episode_order, episode_id
        ) AS episode_in_spell
    FROM hes_apc
    WHERE spell_id IS NOT NULL
),
spells AS (
    SELECT
        patient_id,
        spell_id,
        min(admission_date) AS admission_date,
        max(length_of_stay) AS length_of_stay,
        any_value(primary_diagnosis) FILTER (WHERE episode_in_spell = 1) AS primary_diagnosis
    FROM episodes
    GROUP BY patient_id, spell_id
),
first_spell AS (
    SELECT
        patient_id,
        length_of_stay,
        left(primary_diagnosis, 3) AS code,
        row_number() OVER (PARTITION BY patient_id ORDER BY admission_date, spell_id) AS nth
    FROM spells
    WHERE length_of_stay IS NOT NULL AND primary_diagnosis IS NOT NULL
)
SELECT
    patient_id,
    length_of_stay,
    -- ICD-10 chapters (WHO ICD-10 2019); codes outside every chapter get no chapter.
    CASE
        WHEN code BETWEEN 'A00' AND 'B99' THEN 'I Infectious and parasitic (A00-B99)'
        WHEN code BETWEEN 'C00' AND 'D48' THEN 'II Neoplasms (C00-D48)'
        WHEN code BETWEEN 'D50' AND 'D89' THEN 'III Blood and immune (D50-D89)'
        WHEN code BETWEEN 'E00' AND 'E90' THEN 'IV Endocrine and metabolic (E00-E90)'
        WHEN code BETWEEN 'F00' AND 'F99' THEN 'V Mental and behavioural (F00-F99)'
        WHEN code BETWEEN 'G00' AND 'G99' THEN 'VI Nervous system (G00-G99)'
        WHEN code BETWEEN 'H00' AND 'H59' THEN 'VII Eye (H00-H59)'
        WHEN code BETWEEN 'H60' AND 'H95' THEN 'VIII Ear (H60-H95)'
        WHEN code BETWEEN 'I00' AND 'I99' THEN 'IX Circulatory (I00-I99)'
        WHEN code BETWEEN 'J00' AND 'J99' THEN 'X Respiratory (J00-J99)'
        WHEN code BETWEEN 'K00' AND 'K93' THEN 'XI Digestive (K00-K93)'
        WHEN code BETWEEN 'L00' AND 'L99' THEN 'XII Skin (L00-L99)'
        WHEN code BETWEEN 'M00' AND 'M99' THEN 'XIII Musculoskeletal (M00-M99)'
        WHEN code BETWEEN 'N00' AND 'N99' THEN 'XIV Genitourinary (N00-N99)'
        WHEN code BETWEEN 'O00' AND 'O99' THEN 'XV Pregnancy and childbirth (O00-O99)'
        WHEN code BETWEEN 'P00' AND 'P96' THEN 'XVI Perinatal (P00-P96)'
        WHEN code BETWEEN 'Q00' AND 'Q99' THEN 'XVII Congenital (Q00-Q99)'
        WHEN code BETWEEN 'R00' AND 'R99' THEN 'XVIII Symptoms and signs (R00-R99)'
        WHEN code BETWEEN 'S00' AND 'T98' THEN 'XIX Injury and poisoning (S00-T98)'
        WHEN code BETWEEN 'U00' AND 'U99' THEN 'XXII Special purposes (U00-U99)'
        WHEN code BETWEEN 'V01' AND 'Y98' THEN 'XX External causes (V01-Y98)'
        WHEN code BETWEEN 'Z00' AND 'Z99' THEN 'XXI Health services contact (Z00-Z99)'
    END AS chapter
FROM first_spell
WHERE nth = 1
