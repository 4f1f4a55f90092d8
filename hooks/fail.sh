# An example hook that fails: its last stderr line and exit status reach the lab's audit trail.
echo "FAIL: example failure" >&2
exit 3
