package api

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	accountv1 "github.com/connectengine/photoshoot/proto/photoshoot/account/v1"
	"github.com/connectengine/photoshoot/services/account/internal/consumers"
	"github.com/connectengine/photoshoot/services/account/internal/identity"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var userStates = map[identity.State]accountv1.UserState{
	identity.StateActive:   accountv1.UserState_USER_STATE_ACTIVE,
	identity.StateDeleting: accountv1.UserState_USER_STATE_DELETING,
	identity.StateDeleted:  accountv1.UserState_USER_STATE_DELETED,
}

func userToProto(u identity.User) *accountv1.User {
	p := u.Preferences
	return &accountv1.User{
		Id: u.ID, Email: u.Email, DisplayName: u.DisplayName, State: userStates[u.State],
		Preferences: &accountv1.Preferences{
			DefaultSceneId: p.DefaultSceneID, DefaultAspectRatio: p.DefaultAspectRatio, DefaultSize: p.DefaultSize,
			EmailNotifications: p.EmailNotifications, AnalyticsConsent: p.AnalyticsConsent,
		},
		HasPassword: u.HasPassword(), Admin: u.Admin, CreateTime: ts(u.CreateTime),
	}
}

func userFromProto(u *accountv1.User) identity.User {
	p := u.GetPreferences()
	return identity.User{
		DisplayName: u.GetDisplayName(),
		Preferences: identity.Preferences{
			DefaultSceneID: p.GetDefaultSceneId(), DefaultAspectRatio: p.GetDefaultAspectRatio(), DefaultSize: p.GetDefaultSize(),
			EmailNotifications: p.GetEmailNotifications(), AnalyticsConsent: p.GetAnalyticsConsent(),
		},
	}
}

func sessionToProto(s identity.Session, currentID string) *accountv1.Session {
	return &accountv1.Session{
		Id: s.ID, CreateTime: ts(s.CreateTime), LastSeenTime: ts(s.LastSeenTime), ExpireTime: ts(s.ExpireTime),
		UserAgent: s.UserAgent, IpAddress: s.IPAddress, Current: s.ID == currentID,
	}
}

func apiKeyToProto(k identity.APIKey) *accountv1.ApiKey {
	return &accountv1.ApiKey{Id: k.ID, Name: k.Name, Prefix: k.Prefix, CreateTime: ts(k.CreateTime), LastUsedTime: ts(k.LastUsedTime)}
}

var exportStates = map[identity.ExportState]accountv1.ExportState{
	identity.ExportPending:   accountv1.ExportState_EXPORT_STATE_PENDING,
	identity.ExportRunning:   accountv1.ExportState_EXPORT_STATE_RUNNING,
	identity.ExportSucceeded: accountv1.ExportState_EXPORT_STATE_SUCCEEDED,
	identity.ExportFailed:    accountv1.ExportState_EXPORT_STATE_FAILED,
	identity.ExportExpired:   accountv1.ExportState_EXPORT_STATE_EXPIRED,
}

func exportToProto(e identity.Export, publicURL string) *accountv1.Export {
	out := &accountv1.Export{Id: e.ID, State: exportStates[e.State], CreateTime: ts(e.CreateTime), CompleteTime: ts(e.CompleteTime)}
	if e.State == identity.ExportSucceeded {
		out.DownloadUrl, out.SizeBytes = consumers.DownloadURL(publicURL, e.ImageID), e.SizeBytes
		out.ExpireTime = ts(e.CompleteTime.Add(identity.ExportRetention))
	}
	return out
}

// UserDataToProto is account's part of a data export.
func UserDataToProto(d identity.UserData) *accountv1.ExportUserDataResponse {
	out := &accountv1.ExportUserDataResponse{User: userToProto(d.User)}
	for _, s := range d.Sessions {
		out.Sessions = append(out.Sessions, sessionToProto(s, ""))
	}
	for _, k := range d.APIKeys {
		out.ApiKeys = append(out.ApiKeys, apiKeyToProto(k))
	}
	for _, m := range d.Contact {
		out.ContactMessages = append(out.ContactMessages, &accountv1.ContactMessage{
			Id: m.ID, Name: m.Name, Email: m.Email, Message: m.Message, CreateTime: ts(m.CreateTime),
		})
	}
	return out
}
