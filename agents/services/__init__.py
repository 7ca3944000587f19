"""The agents app's writes: ``agents.services.agents`` (agents and their policies), ``.decisions`` (the decision
pipeline and approval callbacks), ``.observer`` (suggestions and human decisions), ``.risk`` (scores)."""
