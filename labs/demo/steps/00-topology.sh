# The topology and plain connectivity: what every later step stands on.
"$WIRELAB" status --instance "$INSTANCE"
in_node h1 ping -c 2 -i 0.2 srv
