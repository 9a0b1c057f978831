"""Azure concerns, one module each: credentials, clients, managed applications, AKS, identities, roles, scale sets,
storage. Plain functions over SDK clients; the steps in ``onboarding.steps`` compose them."""
