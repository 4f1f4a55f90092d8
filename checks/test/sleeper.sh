# For the tests: a check that never finishes on its own. It records the pid of its sleep, so a
# test can see that the timeout killed it on the lab.
sleep 300 &
echo $! > "$HOME/sleeper.pid"
wait
