# /etc/profile.d/mailkeep.sh: administrators' mailkeep commands use the server's data directory.
export MAILKEEP_DATA=/var/lib/mailkeep
