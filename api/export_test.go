package api

// RouteInfo is one entry of the route table, for the tests.
type RouteInfo struct {
	Method, Path string
	Public       bool
}

// Routes returns the route table of a handler made with cfg: the public
// routes, then the protected ones, each group in order.
func Routes(cfg Config) []RouteInfo {
	web, err := newDashboard()
	if err != nil {
		panic(err)
	}
	t := tableOf(cfg, web)
	var out []RouteInfo
	for _, r := range t.public.routes {
		out = append(out, RouteInfo{Method: r.method, Path: r.path, Public: true})
	}
	for _, r := range t.protected.routes {
		out = append(out, RouteInfo{Method: r.method, Path: r.path})
	}
	return out
}
