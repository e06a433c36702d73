// Package apitype holds the wire types of the Plex-compatible Butler API,
// spelled exactly as Plex spells them in JSON and XML. It imports only the
// standard library, so that the Go SDK (package client) stays light.
package apitype

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strconv"
)

// Bool is a boolean written as true/false in JSON and as "1"/"0" in XML
// attributes, as Plex writes the flags of ButlerTask.
type Bool bool

// MarshalXMLAttr writes "1" or "0".
func (b Bool) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	v := "0"
	if b {
		v = "1"
	}
	return xml.Attr{Name: name, Value: v}, nil
}

// UnmarshalXMLAttr reads 1, 0, true or false.
func (b *Bool) UnmarshalXMLAttr(a xml.Attr) error {
	v, err := ParseBool(a.Value)
	if err != nil {
		return fmt.Errorf("attribute %s: %w", a.Name.Local, err)
	}
	*b = Bool(v)
	return nil
}

// ParseBool reads the bool forms Plex clients send: 1, 0, true, false.
func ParseBool(s string) (bool, error) {
	switch s {
	case "1", "true", "True", "TRUE":
		return true, nil
	case "0", "false", "False", "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a bool (want 1, 0, true or false)", s)
}

// ButlerTasksResponse is the JSON body of GET /butler. (Its XML body is a
// bare ButlerTasks element.)
type ButlerTasksResponse struct {
	ButlerTasks ButlerTasks `json:"ButlerTasks"`
}

// ButlerTasks lists the tasks of GET /butler.
type ButlerTasks struct {
	XMLName    xml.Name     `json:"-" xml:"ButlerTasks"`
	ButlerTask []ButlerTask `json:"ButlerTask" xml:"ButlerTask"`
}

// ButlerTask is one task of GET /butler.
type ButlerTask struct {
	Name               string `json:"name" xml:"name,attr"`
	Interval           int    `json:"interval" xml:"interval,attr"`
	ScheduleRandomized Bool   `json:"scheduleRandomized" xml:"scheduleRandomized,attr"`
	Enabled            Bool   `json:"enabled" xml:"enabled,attr"`
	Title              string `json:"title" xml:"title,attr"`
	Description        string `json:"description" xml:"description,attr"`
}

// SettingsResponse is the JSON body of GET /:/prefs.
type SettingsResponse struct {
	MediaContainer SettingsContainer `json:"MediaContainer"`
}

// SettingsContainer is the MediaContainer of GET /:/prefs.
type SettingsContainer struct {
	XMLName xml.Name  `json:"-" xml:"MediaContainer"`
	Size    int       `json:"size" xml:"size,attr"`
	Setting []Setting `json:"Setting" xml:"Setting"`
}

// Setting is one server setting. Default and Value are typed in JSON (bool,
// number or string, after Type) and plain text in XML.
type Setting struct {
	ID         string       `json:"id" xml:"id,attr"`
	Label      string       `json:"label" xml:"label,attr"`
	Summary    string       `json:"summary" xml:"summary,attr"`
	Type       string       `json:"type" xml:"type,attr"`
	Default    SettingValue `json:"default" xml:"default,attr"`
	Value      SettingValue `json:"value" xml:"value,attr"`
	Hidden     Bool         `json:"hidden" xml:"hidden,attr"`
	Advanced   Bool         `json:"advanced" xml:"advanced,attr"`
	Group      string       `json:"group" xml:"group,attr"`
	EnumValues string       `json:"enumValues,omitempty" xml:"enumValues,attr,omitempty"`
	// Fixed (a Butler extension) is set when the server's config file
	// fixes the setting: the API cannot change it (409).
	Fixed Bool `json:"fixed,omitempty" xml:"fixed,attr,omitempty"`
}

// SettingValue is a setting's value in canonical text ("true", "42",
// "Europe/Berlin") with the setting's type, which decides its JSON form.
type SettingValue struct {
	Type string
	Text string
}

// MarshalJSON writes a bool as true/false, an int as a number, text as a
// string.
func (v SettingValue) MarshalJSON() ([]byte, error) {
	switch v.Type {
	case "bool":
		b, err := ParseBool(v.Text)
		if err != nil {
			return nil, err
		}
		return json.Marshal(b)
	case "int":
		n, err := strconv.ParseInt(v.Text, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("setting value %q is not an int", v.Text)
		}
		return json.Marshal(n)
	}
	return json.Marshal(v.Text)
}

// UnmarshalJSON reads any JSON scalar; Type is left to the caller.
func (v *SettingValue) UnmarshalJSON(b []byte) error {
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return err
	}
	switch x := x.(type) {
	case bool:
		v.Text = strconv.FormatBool(x)
	case float64:
		v.Text = strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		v.Text = x
	case nil:
		v.Text = ""
	default:
		return fmt.Errorf("setting value %s is not a scalar", b)
	}
	return nil
}

// MarshalXMLAttr writes the canonical text.
func (v SettingValue) MarshalXMLAttr(name xml.Name) (xml.Attr, error) {
	return xml.Attr{Name: name, Value: v.Text}, nil
}

// UnmarshalXMLAttr reads the text.
func (v *SettingValue) UnmarshalXMLAttr(a xml.Attr) error {
	v.Text = a.Value
	return nil
}

// IdentityResponse is the JSON body of GET /identity.
type IdentityResponse struct {
	MediaContainer Identity `json:"MediaContainer"`
}

// Identity is the MediaContainer of GET /identity: what a Plex server sends
// (size 0, claimed, machineIdentifier, version), and the server's friendly
// name, which a Plex server sends only at the root.
type Identity struct {
	XMLName           xml.Name `json:"-" xml:"MediaContainer"`
	Size              int      `json:"size" xml:"size,attr"`
	Claimed           Bool     `json:"claimed" xml:"claimed,attr"`
	MachineIdentifier string   `json:"machineIdentifier" xml:"machineIdentifier,attr"`
	Version           string   `json:"version" xml:"version,attr"`
	FriendlyName      string   `json:"friendlyName,omitempty" xml:"friendlyName,attr,omitempty"`
}

// ServerResponse is the JSON body of GET /.
type ServerResponse struct {
	MediaContainer Server `json:"MediaContainer"`
}

// Server is the MediaContainer of GET /, the server's description, with
// the attributes a Plex server sends there, in its order (alphabetical),
// and one Directory per part of the API the server serves. Flags are
// booleans in JSON and 1/0 in XML; counts and times are JSON numbers; lists
// (ownerFeatures, diagnostics, transcoderVideo*) are comma-separated text,
// empty when there is nothing in them.
type Server struct {
	XMLName                       xml.Name    `json:"-" xml:"MediaContainer"`
	Size                          int         `json:"size" xml:"size,attr"`
	AllowCameraUpload             Bool        `json:"allowCameraUpload" xml:"allowCameraUpload,attr"`
	AllowChannelAccess            Bool        `json:"allowChannelAccess" xml:"allowChannelAccess,attr"`
	AllowMediaDeletion            Bool        `json:"allowMediaDeletion" xml:"allowMediaDeletion,attr"`
	AllowSharing                  Bool        `json:"allowSharing" xml:"allowSharing,attr"`
	AllowSync                     Bool        `json:"allowSync" xml:"allowSync,attr"`
	AllowTuners                   Bool        `json:"allowTuners" xml:"allowTuners,attr"`
	BackgroundProcessing          Bool        `json:"backgroundProcessing" xml:"backgroundProcessing,attr"`
	Certificate                   Bool        `json:"certificate" xml:"certificate,attr"`
	CompanionProxy                Bool        `json:"companionProxy" xml:"companionProxy,attr"`
	Diagnostics                   string      `json:"diagnostics" xml:"diagnostics,attr"`
	EventStream                   Bool        `json:"eventStream" xml:"eventStream,attr"`
	FriendlyName                  string      `json:"friendlyName" xml:"friendlyName,attr"`
	HubSearch                     Bool        `json:"hubSearch" xml:"hubSearch,attr"`
	ItemClusters                  Bool        `json:"itemClusters" xml:"itemClusters,attr"`
	LiveTV                        int         `json:"livetv" xml:"livetv,attr"`
	MachineIdentifier             string      `json:"machineIdentifier" xml:"machineIdentifier,attr"`
	MediaProviders                Bool        `json:"mediaProviders" xml:"mediaProviders,attr"`
	Multiuser                     Bool        `json:"multiuser" xml:"multiuser,attr"`
	MusicAnalysis                 int         `json:"musicAnalysis" xml:"musicAnalysis,attr"`
	MyPlex                        Bool        `json:"myPlex" xml:"myPlex,attr"`
	MyPlexMappingState            string      `json:"myPlexMappingState" xml:"myPlexMappingState,attr"`
	MyPlexSigninState             string      `json:"myPlexSigninState" xml:"myPlexSigninState,attr"`
	MyPlexSubscription            Bool        `json:"myPlexSubscription" xml:"myPlexSubscription,attr"`
	MyPlexUsername                string      `json:"myPlexUsername" xml:"myPlexUsername,attr"`
	OfflineTranscode              int         `json:"offlineTranscode" xml:"offlineTranscode,attr"`
	OwnerFeatures                 string      `json:"ownerFeatures" xml:"ownerFeatures,attr"`
	PhotoAutoTag                  Bool        `json:"photoAutoTag" xml:"photoAutoTag,attr"`
	Platform                      string      `json:"platform" xml:"platform,attr"`
	PlatformVersion               string      `json:"platformVersion" xml:"platformVersion,attr"`
	PluginHost                    Bool        `json:"pluginHost" xml:"pluginHost,attr"`
	PushNotifications             Bool        `json:"pushNotifications" xml:"pushNotifications,attr"`
	ReadOnlyLibraries             Bool        `json:"readOnlyLibraries" xml:"readOnlyLibraries,attr"`
	Sync                          Bool        `json:"sync" xml:"sync,attr"`
	TranscoderActiveVideoSessions int         `json:"transcoderActiveVideoSessions" xml:"transcoderActiveVideoSessions,attr"`
	TranscoderAudio               Bool        `json:"transcoderAudio" xml:"transcoderAudio,attr"`
	TranscoderLyrics              Bool        `json:"transcoderLyrics" xml:"transcoderLyrics,attr"`
	TranscoderPhoto               Bool        `json:"transcoderPhoto" xml:"transcoderPhoto,attr"`
	TranscoderSubtitles           Bool        `json:"transcoderSubtitles" xml:"transcoderSubtitles,attr"`
	TranscoderVideo               Bool        `json:"transcoderVideo" xml:"transcoderVideo,attr"`
	TranscoderVideoBitrates       string      `json:"transcoderVideoBitrates" xml:"transcoderVideoBitrates,attr"`
	TranscoderVideoQualities      string      `json:"transcoderVideoQualities" xml:"transcoderVideoQualities,attr"`
	TranscoderVideoResolutions    string      `json:"transcoderVideoResolutions" xml:"transcoderVideoResolutions,attr"`
	UpdatedAt                     int64       `json:"updatedAt" xml:"updatedAt,attr"`
	Updater                       Bool        `json:"updater" xml:"updater,attr"`
	Version                       string      `json:"version" xml:"version,attr"`
	VoiceSearch                   Bool        `json:"voiceSearch" xml:"voiceSearch,attr"`
	Directory                     []Directory `json:"Directory" xml:"Directory"`
}

// Directory is one child of the root MediaContainer: a part of the API,
// whose key is its path relative to the root.
type Directory struct {
	Count int    `json:"count" xml:"count,attr"`
	Key   string `json:"key" xml:"key,attr"`
	Title string `json:"title" xml:"title,attr"`
}

// ErrorsResponse is the JSON body of an error other than 401 and 404.
type ErrorsResponse struct {
	Errors []ErrorItem `json:"errors"`
}

// ErrorItem is one error of an ErrorsResponse.
type ErrorItem struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// Headers the Butler adds to start answers; Plex clients ignore them.
const (
	HeaderOutcome = "X-Butler-Outcome"
	HeaderRunAt   = "X-Butler-Run-At"
	HeaderReason  = "X-Butler-Reason"
	HeaderRunID   = "X-Butler-Run-Id"
)

// ActivitiesResponse is the JSON body of GET /activities.
type ActivitiesResponse struct {
	MediaContainer ActivityContainer `json:"MediaContainer"`
}

// ActivityContainer is the MediaContainer of GET /activities.
type ActivityContainer struct {
	XMLName  xml.Name   `json:"-" xml:"MediaContainer"`
	Size     int        `json:"size" xml:"size,attr"`
	Activity []Activity `json:"Activity,omitempty" xml:"Activity"`
}

// Activity is a running task as Plex shows background work.
type Activity struct {
	UUID        string           `json:"uuid" xml:"uuid,attr"`
	Type        string           `json:"type" xml:"type,attr"`
	Cancellable Bool             `json:"cancellable" xml:"cancellable,attr"`
	UserID      int              `json:"userID" xml:"userID,attr"`
	Title       string           `json:"title" xml:"title,attr"`
	Subtitle    string           `json:"subtitle" xml:"subtitle,attr"`
	Progress    int              `json:"progress" xml:"progress,attr"`
	Context     *ActivityContext `json:"Context,omitempty" xml:"Context,omitempty"`
}

// ActivityContext says which task and run an Activity is.
type ActivityContext struct {
	TaskName string `json:"taskName" xml:"taskName,attr"`
	RunID    int64  `json:"runID" xml:"runID,attr"`
	Trigger  string `json:"trigger" xml:"trigger,attr"`
	Node     string `json:"node,omitempty" xml:"node,attr,omitempty"`
	// State is "running"; "paused" while it waits for nobody to be busy
	// (someone watching: Paused says why); or "stopping" once the run was
	// told to stop and until its work has stopped (then the activity
	// ends).
	State   string `json:"state,omitempty" xml:"state,attr,omitempty"`
	Paused  string `json:"paused,omitempty" xml:"paused,attr,omitempty"`
	Outcome string `json:"outcome,omitempty" xml:"outcome,attr,omitempty"`
}

// ActivityPaused is ActivityContext.State of a paused run.
const ActivityPaused = "paused"

// ActivityType is the Activity type of Butler tasks.
const ActivityType = "butler.task"

// Notification is one message of the notification websocket and event
// stream.
type Notification struct {
	NotificationContainer NotificationContainer `json:"NotificationContainer"`
}

// NotificationContainer carries events of one type.
type NotificationContainer struct {
	Type                 string                 `json:"type"`
	Size                 int                    `json:"size"`
	ActivityNotification []ActivityNotification `json:"ActivityNotification,omitempty"`
	// AutoUpdateNotification is set on type "update.statechange".
	AutoUpdateNotification []AutoUpdateNotification `json:"AutoUpdateNotification,omitempty"`
}

// AutoUpdateNotification says a newer version of the server is available.
type AutoUpdateNotification struct {
	Key     string `json:"key,omitempty"`
	Version string `json:"version"`
	State   string `json:"state"`
}

// ActivityNotification is one activity event: started, updated or ended.
type ActivityNotification struct {
	Event    string   `json:"event"`
	UUID     string   `json:"uuid"`
	Activity Activity `json:"Activity"`
}

// RunsResponse is the JSON body of GET /butler/runs and /butler/runs/{id}.
type RunsResponse struct {
	MediaContainer RunContainer `json:"MediaContainer"`
}

// RunContainer lists runs of the history, newest first.
type RunContainer struct {
	XMLName xml.Name `json:"-" xml:"MediaContainer"`
	Size    int      `json:"size" xml:"size,attr"`
	Run     []Run    `json:"Run,omitempty" xml:"Run"`
}

// Run is one run of the history. Times are RFC 3339; empty when they do not
// apply.
type Run struct {
	ID          int64  `json:"id" xml:"id,attr"`
	UUID        string `json:"uuid" xml:"uuid,attr"`
	Task        string `json:"task" xml:"task,attr"`
	Trigger     string `json:"trigger" xml:"trigger,attr"`
	State       string `json:"state" xml:"state,attr"`
	Outcome     string `json:"outcome,omitempty" xml:"outcome,attr,omitempty"`
	Reason      string `json:"reason,omitempty" xml:"reason,attr,omitempty"`
	Summary     string `json:"summary,omitempty" xml:"summary,attr,omitempty"`
	Error       string `json:"error,omitempty" xml:"error,attr,omitempty"`
	Window      string `json:"window,omitempty" xml:"window,attr,omitempty"`
	Day         string `json:"day,omitempty" xml:"day,attr,omitempty"`
	Queue       string `json:"queue,omitempty" xml:"queue,attr,omitempty"`
	Node        string `json:"node,omitempty" xml:"node,attr,omitempty"`
	Progress    int    `json:"progress" xml:"progress,attr"`
	Step        string `json:"step,omitempty" xml:"step,attr,omitempty"`
	CreatedAt   string `json:"createdAt" xml:"createdAt,attr"`
	ScheduledAt string `json:"scheduledAt,omitempty" xml:"scheduledAt,attr,omitempty"`
	StartedAt   string `json:"startedAt,omitempty" xml:"startedAt,attr,omitempty"`
	EndedAt     string `json:"endedAt,omitempty" xml:"endedAt,attr,omitempty"`
}

// PlanResponse is the JSON body of GET /butler/plan.
type PlanResponse struct {
	MediaContainer PlanContainer `json:"MediaContainer"`
}

// PlanContainer is tonight's plan: the open window, or the next one.
type PlanContainer struct {
	XMLName xml.Name   `json:"-" xml:"MediaContainer"`
	Size    int        `json:"size" xml:"size,attr"`
	Day     string     `json:"day" xml:"day,attr"`
	Open    string     `json:"open" xml:"open,attr"`
	Close   string     `json:"close" xml:"close,attr"`
	Inside  Bool       `json:"inside" xml:"inside,attr"`
	Task    []PlanTask `json:"Task,omitempty" xml:"Task"`
}

// PlanTask is one task's decision in the plan.
type PlanTask struct {
	Name     string `json:"name" xml:"name,attr"`
	Decision string `json:"decision" xml:"decision,attr"`
	At       string `json:"at,omitempty" xml:"at,attr,omitempty"`
	Random   Bool   `json:"random" xml:"random,attr"`
	NextDue  string `json:"nextDue,omitempty" xml:"nextDue,attr,omitempty"`
	Outcome  string `json:"outcome,omitempty" xml:"outcome,attr,omitempty"`
	RunID    int64  `json:"runID,omitempty" xml:"runID,attr,omitempty"`
	Reason   string `json:"reason" xml:"reason,attr"`
	// ItemsLeft is, for a task whose work is many items (the media
	// analysis), how many it has left; absent for other tasks.
	ItemsLeft *int `json:"itemsLeft,omitempty" xml:"itemsLeft,attr,omitempty"`
	// EstimateSeconds is roughly how long the items left would take, at
	// the pace of the task's newest run that worked items; absent when
	// unknown.
	EstimateSeconds int64 `json:"estimateSeconds,omitempty" xml:"estimateSeconds,attr,omitempty"`
}
