// Package s3 is an [upload.Store] in an S3-compatible bucket, through
// minio-go: each tus upload is an S3 multipart upload, completed into one
// object when its last byte arrives. It is a module of its own, so that
// only programs that use S3 have minio-go in their module graph:
// go get github.com/wirespeed/wirespeed/upload/s3.
//
// S3 wants every part but the last to be at least 5 MiB, and tus chunks can
// be any size, so bytes that do not fill a part wait in a tail object
// until they do (each chunk below the part size rewrites the tail: send
// chunks of at least Options.PartSize for the cheapest path). A chunk is
// spooled to a temporary file, never held in memory, and verified against
// its checksum before anything is sent to S3.
//
//	client, _ := minio.New("s3.amazonaws.com", &minio.Options{Creds: creds, Secure: true})
//	store, _ := s3.New(client, &s3.Options{Bucket: "uploads", Prefix: "tus/"})
//	h, _ := upload.NewHandler(store, &upload.Options{PreCreate: authorize})
//
// [Store.PresignPut] and [Store.PresignGet] hand out SigV4 URLs so that
// clients move bytes to and from the bucket directly. A PUT URL signs the
// body's exact length, so its holder cannot store more than the
// application agreed to.
//
// # Options
//
// Options follow one rule across wirespeed: a nil *Options and a zero field
// select the documented default; a negative value switches a limit or
// feature off where the field says so and is otherwise an error from the
// constructor. (Here a nil *Options is an error: the bucket has no
// default.)
package s3
