"""Every state change of the accounts app. Views, commands and tasks call these, nothing else."""
