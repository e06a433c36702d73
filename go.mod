module github.com/plexbutler/butler

go 1.26
