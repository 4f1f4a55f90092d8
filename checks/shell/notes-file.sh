# Passes when the learner has written "hello" into notes.txt in their home folder.
# A check runs on the lab with `bash -s`: exit 0 passes; lines starting FAIL: (or stderr) are the hint.
if [[ ! -f "$HOME/notes.txt" ]]; then
  echo "FAIL: there is no notes.txt in your home folder yet (try: echo hello > ~/notes.txt)"
  exit 1
fi
if ! grep -q hello "$HOME/notes.txt"; then
  echo "FAIL: notes.txt does not say hello"
  exit 1
fi
echo "notes.txt says hello"
