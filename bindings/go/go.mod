module example.invalid/procroot

go 1.19
