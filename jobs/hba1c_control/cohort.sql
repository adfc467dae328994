-- Registered adults with a diabetes diagnosis; their latest HbA1c in the two years to the index.
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
)
SELECT
    p.patient_id,
    p.imd_quintile,
    h.latest_hba1c,
    CASE WHEN h.latest_hba1c IS NULL THEN NULL
         WHEN h.latest_hba1c > 58 THEN 1 ELSE 0 END AS poor_control
FROM patients AS p
JOIN registered AS r ON r.patient_id = p.patient_id
JOIN diabetic AS d ON d.patient_id = p.patient_id
LEFT JOIN hba1c AS h ON h.patient_id = p.patient_id
WHERE date_diff('month', p.date_of_birth, DATE '2024-03-31') // 12 >= 18
  AND (p.date_of_death IS NULL OR p.date_of_death > DATE '2024-03-31')
