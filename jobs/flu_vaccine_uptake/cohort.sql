-- People aged 65+ on 31 March 2024, alive and registered then; vaccinated in the 2023-24 season.
WITH registered AS (
    SELECT DISTINCT patient_id
    FROM practice_registrations
    WHERE start_date <= DATE '2023-09-01'
      AND (end_date IS NULL OR end_date >= DATE '2024-03-31')
),
flu AS (
    SELECT DISTINCT patient_id
    FROM vaccinations
    WHERE target_disease = 'influenza'
      AND date BETWEEN DATE '2023-09-01' AND DATE '2024-03-31'
)
SELECT
    p.patient_id,
    p.region,
    p.sex,
    CASE WHEN f.patient_id IS NULL THEN 0 ELSE 1 END AS vaccinated,
    f.patient_id IS NOT NULL AS was_vaccinated
FROM patients AS p
JOIN registered AS r ON r.patient_id = p.patient_id
LEFT JOIN flu AS f ON f.patient_id = p.patient_id
WHERE date_diff('month', p.date_of_birth, DATE '2024-03-31') // 12 >= 65
  AND (p.date_of_death IS NULL OR p.date_of_death > DATE '2024-03-31')
