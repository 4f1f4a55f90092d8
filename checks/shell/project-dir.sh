# Passes when the learner has made a folder named project in their home folder.
if [[ ! -d "$HOME/project" ]]; then
  echo "FAIL: make a folder named project in your home folder (try: mkdir ~/project)"
  exit 1
fi
