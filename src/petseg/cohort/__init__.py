"""`petseg predict` over a cohort: the cohort's own concerns (which studies, shards of it, the shared output
folder, the summary, failures reported and skipped); each study goes through the one path `segment` uses
(`petseg.api.segment`), so its lesions.json carries its warnings, acquisition facts and metrics."""
