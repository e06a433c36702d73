package apitype

// ReservedTaskNames returns the words under /butler/ that name API routes
// rather than tasks (GET /butler/runs, /butler/plan, /butler/library). No
// task may take one of them as its name, in any case: the server's router
// and the config file's check of task names both read this list.
func ReservedTaskNames() []string { return []string{"runs", "plan", "library"} }
