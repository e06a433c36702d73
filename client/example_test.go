package client_test

// The examples compile but do not run (they need a server); client_test.go
// runs every operation against a real one.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/plexbutler/butler/client"
)

func ExampleNew() {
	c, err := client.New("http://127.0.0.1:28400",
		client.WithToken(os.Getenv("BUTLER_TOKEN")),
		client.WithClientIdentifier("my-maintenance-script"),
		client.WithTimeout(10*time.Second),
		client.WithRetry(3, 200*time.Millisecond), // GETs only
	)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.URL())
}

func ExampleClient_GetButlerTasks() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	res, err := c.GetButlerTasks(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range res.Tasks {
		fmt.Printf("%s every %d days, enabled %v\n", t.Name, t.Interval, t.Enabled)
	}
}

func ExampleClient_StartAllTasks() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	if _, err := c.StartAllTasks(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_StopAllTasks() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	if _, err := c.StopAllTasks(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_StartTask() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	ctx := context.Background()
	res, err := c.StartTask(ctx, client.TaskBackupDatabase)
	if err == nil && res.Outcome == client.OutcomeSkipped {
		// Not due yet: run it anyway.
		res, err = c.StartTask(ctx, client.TaskBackupDatabase, client.Force())
	}
	if err != nil {
		log.Fatal(err)
	}
	switch res.Outcome {
	case client.OutcomeStarted, client.OutcomeRunning:
		fmt.Println("run", res.RunID, "is running")
	case client.OutcomeScheduled, client.OutcomeQueued:
		fmt.Println("run", res.RunID, "starts at", res.RunAt)
	case client.OutcomeSkipped:
		fmt.Println("skipped:", res.Reason)
	}
}

func ExampleClient_StopTask() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	res, err := c.StopTask(context.Background(), client.TaskBackupDatabase)
	if errors.Is(err, client.ErrNotFound) {
		fmt.Println("nothing to stop")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Outcome, "run", res.RunID) // "stopped run 12" or "removed run 12"
}

func ExampleClient_Settings() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	settings, err := c.Settings(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range settings {
		fmt.Printf("%s = %s (default %s)\n", s.ID, s.Value.Text, s.Default.Text)
	}
}

func ExampleClient_Setting() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	s, err := c.Setting(context.Background(), "ButlerStartHour")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Value.Text)
}

func ExampleClient_SetSettings() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	err := c.SetSettings(context.Background(), map[string]string{
		"ButlerStartHour": "1",
		"ButlerEndHour":   "4",
	})
	var e *client.Error
	if errors.As(err, &e) && errors.Is(err, client.ErrBadRequest) {
		fmt.Println("nothing changed:", e.Message)
		return
	}
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleClient_Activities() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	list, err := c.Activities(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range list {
		fmt.Printf("%s %s %d%% %s\n", a.UUID, a.Title, a.Progress, a.Subtitle)
	}
}

func ExampleClient_CancelActivity() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	ctx := context.Background()
	list, err := c.Activities(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range list {
		if _, err := c.CancelActivity(ctx, a.UUID); err != nil {
			log.Print(err)
		}
	}
}

func ExampleClient_Runs() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	runs, err := c.Runs(context.Background(), client.RunsQuery{
		Task:    client.TaskBackupDatabase,
		Outcome: "failed",
		Since:   time.Now().Add(-7 * 24 * time.Hour),
		Limit:   10,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range runs {
		fmt.Println(r.ID, r.StartedAt, r.Error)
	}
}

func ExampleClient_Run() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	r, err := c.Run(context.Background(), 12)
	if errors.Is(err, client.ErrNotFound) {
		fmt.Println("no run 12")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Task, r.State, r.Outcome)
}

func ExampleClient_Plan() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	p, err := c.Plan(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("window", p.Open, "to", p.Close)
	for _, t := range p.Task {
		fmt.Println(t.Name, t.Decision, t.Reason)
	}
}

func ExampleClient_Identity() {
	c, _ := client.New("http://127.0.0.1:28400") // no token needed
	id, err := c.Identity(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.FriendlyName, id.Version, id.MachineIdentifier)
}

func ExampleClient_Watch() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events, watchErr := c.Watch(ctx) // connected when it returns
	if _, err := c.StartTask(ctx, client.TaskOptimizeDatabase); err != nil {
		log.Fatal(err)
	}
	for ev := range events {
		fmt.Println(ev.Type, ev.Task(), ev.RunID(), ev.Activity.Progress, ev.Activity.Subtitle)
		if ev.Type == client.EventEnded && ev.Task() == client.TaskOptimizeDatabase {
			fmt.Println("outcome:", ev.Outcome())
			cancel()
		}
	}
	if err := watchErr(); err != nil {
		log.Fatal(err)
	}
}

func ExampleError() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("wrong"))
	_, err := c.StartTask(context.Background(), "NoSuchTask")
	var e *client.Error
	switch {
	case errors.Is(err, client.ErrUnauthorized):
		fmt.Println("check the token")
	case errors.As(err, &e):
		fmt.Println(e.StatusCode, e.Message)
	case err != nil:
		fmt.Println("cannot reach the server:", err)
	}
}
