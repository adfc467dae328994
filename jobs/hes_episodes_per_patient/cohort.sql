-- One row per admitted patient care episode (several rows per patient): the episode's
-- admission method (HES code and group), whether it was a day case, and the patient's age band
-- at the start of the episode. The engine keeps at most max_rows_per_patient rows of each
-- patient (see job.yaml) before anything is counted.
SELECT
    patient_id,
    admission_method,
    admission_method_group,
    patient_classification = '2' AS day_case,
    CASE
        WHEN age_at_start IS NULL THEN 'unknown'
        WHEN age_at_start < 18 THEN '0-17'
        WHEN age_at_start < 65 THEN '18-64'
        ELSE '65+'
    END AS age_band
FROM hes_apc
