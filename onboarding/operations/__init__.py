"""Post-onboarding operations (no Prefect): refresh the application's permissions, check storage from the
publisher, audit role assignments, offboard a customer, and read a customer's status. Each returns a StepResult."""
