-- Adults (18+) alive and registered with a practice on the index date, one row per patient.
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
    CASE WHEN d.patient_id IS NULL THEN 0 ELSE 1 END AS has_diabetes
FROM adults AS a
LEFT JOIN diabetic AS d ON d.patient_id = a.patient_id
WHERE a.age >= 18
