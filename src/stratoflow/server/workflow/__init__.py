"""Workflow: data providers, transfer handlers, jobs, task managers, runs and tasks."""
