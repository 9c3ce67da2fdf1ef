"""A fake Modal control plane for the tests: a grpclib server on `modal_proto`'s own service base, speaking
the calls wacft's flows make, so the real `modal` client runs against it (MODAL_SERVER_URL)."""
