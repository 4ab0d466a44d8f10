from server.cli.main import cli

cli()
