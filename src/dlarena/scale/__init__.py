"""Scale-out: each framework's own data-parallel machinery on 1..N local workers (every address
127.0.0.1), replicas checked identical after training, steps/s and scaling efficiency."""
