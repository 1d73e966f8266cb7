from auditor.cli import command

command()
