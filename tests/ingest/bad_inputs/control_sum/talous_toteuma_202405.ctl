Rivimaara;Summa_yhteensa
12;104152,34
