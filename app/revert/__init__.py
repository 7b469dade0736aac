"""The revert of a commit without a clone (Git Data API + git merge-tree), its pull request,
landing it on green, and the `revert` command line. Knows nothing about incidents."""
