-- Patients with at least one emergency admission in the extract, one row per patient: how many
-- emergency admissions (hospital spells) they had, and their age band and sex at the first one.
-- A spell is counted once however many episodes it has; an episode without a spell key (no
-- admission date) counts as an admission of its own.
WITH emergency_episodes AS (
    SELECT
        patient_id,
        coalesce(spell_id, 'episode ' || episode_id) AS admission,
        sex,
        age_at_start,
        row_number() OVER (
            PARTITION BY patient_id
            ORDER BY admission_date, episode_start_date, episode_id
        ) AS nth
    FROM hes_apc
    WHERE admission_method_group = 'emergency'
),
per_patient AS (
    SELECT
        patient_id,
        count(DISTINCT admission) AS emergency_admissions,
        any_value(sex) FILTER (WHERE nth = 1) AS sex,
        any_value(age_at_start) FILTER (WHERE nth = 1) AS age
    FROM emergency_episodes
    GROUP BY patient_id
)
SELECT
    patient_id,
    emergency_admissions,
    sex,
    CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age < 1 THEN '0'
        WHEN age < 5 THEN '1-4'
        WHEN age < 18 THEN '5-17'
        WHEN age < 40 THEN '18-39'
        WHEN age < 60 THEN '40-59'
        WHEN age < 75 THEN '60-74'
        WHEN age < 85 THEN '75-84'
        ELSE '85+'
    END AS age_band
FROM per_patient
