module github.com/connectengine/photoshoot/services/account

go 1.26.8
