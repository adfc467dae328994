-- Adults (18+) alive and registered with a practice on 31 March 2024, one row per patient,
-- with age band, sex, region, a recorded diabetes diagnosis (0/1) and the latest HbA1c in the
-- two years to that date (null if none).
WITH registered AS (
    SELECT DISTINCT patient_id
    FROM practice_registrations
    WHERE start_date <= DATE '2024-03-31'
      AND (end_date IS NULL OR end_date >= DATE '2024-03-31')
),
diabetic AS (
    SELECT DISTINCT patient_id
    FROM clinical_events
    WHERE snomedct_code IN (SELECT code FROM diabetes_codes)
      AND date <= DATE '2024-03-31'
),
hba1c AS (
    SELECT patient_id, arg_max(numeric_value, date) AS latest_hba1c
    FROM clinical_events
    WHERE snomedct_code IN (SELECT code FROM hba1c_codes)
      AND date > DATE '2022-03-31' AND date <= DATE '2024-03-31'
      AND numeric_value IS NOT NULL
    GROUP BY patient_id
),
adults AS (
    SELECT
        p.patient_id,
        p.sex,
        p.region,
        date_diff('month', p.date_of_birth, DATE '2024-03-31') // 12 AS age
    FROM patients AS p
    JOIN registered AS r ON r.patient_id = p.patient_id
    WHERE p.date_of_death IS NULL OR p.date_of_death > DATE '2024-03-31'
)
SELECT
    a.patient_id,
    a.sex,
    a.region,
    CASE
        WHEN a.age < 40 THEN '18-39'
        WHEN a.age < 60 THEN '40-59'
        WHEN a.age < 80 THEN '60-79'
        ELSE '80+'
    END AS age_band,
    CASE WHEN d.patient_id IS NULL THEN 0 ELSE 1 END AS has_diabetes,
    h.latest_hba1c
FROM adults AS a
LEFT JOIN diabetic AS d ON d.patient_id = a.patient_id
LEFT JOIN hba1c AS h ON h.patient_id = a.patient_id
WHERE a.age >= 18
