module github.com/connectengine/photoshoot/services/billing

go 1.26.8
