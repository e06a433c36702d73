package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/plexbutler/butler/apitype"
	"github.com/plexbutler/butler/client"
)

func ExampleClient_Libraries() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	libs, err := c.Libraries(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range libs {
		fmt.Printf("%s: %d files (%d analysed, %d failed), %d gone\n", l.Name, l.Present, l.Analysed, l.Failed, l.Gone)
	}
}

func ExampleClient_MediaItemsAll() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	// Every file of Movies whose analysis failed, and why, a page of 500 at
	// a time.
	q := client.MediaItemsQuery{Library: "Movies", State: apitype.ItemPresent, Analysis: apitype.AnalysisFailed, Limit: 500}
	for it, err := range c.MediaItemsAll(context.Background(), q) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s (%d failures)\n", it.Path, it.AnalysisError, it.AnalysisFailures)
	}
}

func ExampleClient_MediaItems() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	ctx := context.Background()
	q := client.MediaItemsQuery{Prefix: "/media/Movies/Alien (1979)/", Limit: 100}
	for {
		page, err := c.MediaItems(ctx, q)
		if err != nil {
			log.Fatal(err)
		}
		for _, it := range page.Items {
			fmt.Println(it.ID, it.Path, it.Analysis)
		}
		if page.Next == "" {
			break
		}
		q.After = page.Next
	}
}

func ExampleClient_MediaItem() {
	c, _ := client.New("http://127.0.0.1:28400", client.WithToken("TOKEN"))
	it, err := c.MediaItem(context.Background(), 42)
	if err != nil {
		log.Fatal(err)
	}
	if it.Media == nil {
		fmt.Println(it.Path, "is not analysed:", it.Analysis)
		return
	}
	for _, s := range it.Media.Stream {
		fmt.Println(s.Index, s.Type, s.Codec, s.Language, s.Channels, s.Width, s.Height, s.HDR)
	}
}
