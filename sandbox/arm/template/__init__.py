"""The sandbox's ARM template engine: JSON with positions, the template expression language, deployments."""
