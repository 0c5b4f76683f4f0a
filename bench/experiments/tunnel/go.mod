module tunnelexp

go 1.26
