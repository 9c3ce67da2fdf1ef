"""The operations a person does (build a run's settings, pick where it runs, launch, watch, cancel, resume, fetch,
name what a conversion writes), shared by the CLI and the wizard, which only present them. Imports go one way:
presentation (tui, cli) -> services -> engine (acft, convert, device, record); the engine never imports this."""
