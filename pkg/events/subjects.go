package events

// Subjects are photoshoot.<service>.<entity>.<verb>. This file is the only
// place they are spelled; everything else refers to these constants.
const (
	SubjectUserCreated     = "photoshoot.account.user.created"
	SubjectUserDeleted     = "photoshoot.account.user.deleted"
	SubjectMailRequested   = "photoshoot.account.mail.requested"
	SubjectExportRequested = "photoshoot.account.export.requested"

	SubjectCreditsGranted    = "photoshoot.billing.credits.granted"
	SubjectBillingUserPurged = "photoshoot.billing.user.purged"

	SubjectImageUploaded   = "photoshoot.media.image.uploaded"
	SubjectImageDeleted    = "photoshoot.media.image.deleted"
	SubjectMediaUserPurged = "photoshoot.media.user.purged"

	SubjectAnalysisCompleted  = "photoshoot.analysis.analysis.completed"
	SubjectAnalysisUserPurged = "photoshoot.analysis.user.purged"

	SubjectJobStarted           = "photoshoot.generation.job.started"
	SubjectJobCompleted         = "photoshoot.generation.job.completed"
	SubjectJobFailed            = "photoshoot.generation.job.failed"
	SubjectGenerationUserPurged = "photoshoot.generation.user.purged"

	// SubjectJobRequested is the generation work queue: each message is
	// one job for exactly one worker, held in a work-queue stream of its own.
	SubjectJobRequested = "photoshoot.generation.job.requested"
)

// deadLetterPrefix starts every dead-letter subject.
const deadLetterPrefix = "photoshoot.deadletter."

// DeadLetterSubject is where a consumer puts messages it gave up on after
// MaxDeliver attempts: one subject per durable consumer, all in the
// DEADLETTER stream, so an operator can inspect and replay them per consumer.
func DeadLetterSubject(durable string) string {
	return deadLetterPrefix + durable
}
