package api

// RouteInfo is one entry of the route table, for the tests.
type RouteInfo struct {
	Method, Path string
	Public       bool
}

// Routes returns the route table of a handler made with cfg, in order.
func Routes(cfg Config) []RouteInfo {
	web, err := newDashboard()
	if err != nil {
		panic(err)
	}
	rt := &router{}
	addRoutes(rt, cfg, web)
	out := make([]RouteInfo, 0, len(rt.routes))
	for _, r := range rt.routes {
		p := "/"
		for i, seg := range r.path {
			if i > 0 {
				p += "/"
			}
			p += seg
		}
		out = append(out, RouteInfo{Method: r.method, Path: p, Public: r.public})
	}
	return out
}
